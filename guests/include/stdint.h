/* <stdint.h>: gcc's own definitions (twzemu guests are compiled hosted, so gcc's stdint.h would look for a
 * C library's; stdint-gcc.h is the self-contained one). */
#ifndef TWZ_STDINT_H
#define TWZ_STDINT_H
#include <stdint-gcc.h>
#endif
