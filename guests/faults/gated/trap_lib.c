/* libtrap: an isolated library whose gate trap_int(n) faults on purpose: it runs `int $n`. A fault inside a
 * crossing unwinds it: the caller's call returns TWZ_EFAULT and libtrap stays callable (trap_ok). */
#include <twz.h>

#include "../traps.h"

long trap_int(long n)
{
    trap(n);
    return 0;
}
TWZ_GATE(trap_int);

long trap_ok(void)
{
    return 42;
}
TWZ_GATE(trap_ok);
