/* <memory.h>: an old name for the memory functions of <string.h>, still used by portable C code. */
#ifndef TWZ_MEMORY_H
#define TWZ_MEMORY_H
#include <string.h>
#endif
