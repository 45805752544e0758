/* libtrap: an isolated library whose gates fault on purpose: trap_int(n) runs `int $n`, trap_touch(mib) writes
 * one byte in every page of mib mebibytes of its heap. A fault inside a crossing unwinds it: the caller's call
 * returns TWZ_EFAULT and libtrap stays callable (trap_ok). */
#include <stdlib.h>
#include <twz.h>

#include "../traps.h"

long trap_int(long n)
{
    trap(n);
    return 0;
}
TWZ_GATE(trap_int);

long trap_touch(long mib)
{
    volatile char *heap = malloc(mib << 20);
    if (!heap)
        return -1;
    for (long offset = 0; offset < mib << 20; offset += 4096)
        heap[offset] = 1;
    return mib;
}
TWZ_GATE(trap_touch);

long trap_ok(void)
{
    return 42;
}
TWZ_GATE(trap_ok);
