/* libgrinject: reads what it is given. The variant in inject_evil/ is the same code with a SONAME of its own
 * choosing: a newline, a forged report line and a terminal escape (guests/Makefile). */
#include "redteam.h"

long inject_read(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(inject_read);
