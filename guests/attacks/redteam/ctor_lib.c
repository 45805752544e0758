/* libgrctor: a constructor and a destructor that misbehave in the variants (-DINITLOOP, -DFINILOOP, -DINITEXIT,
 * -DRECURSE); the honest build (no define) does nothing in them. */
#include <stdlib.h>

#include "redteam.h"

#ifdef RECURSE
static volatile long bottom = -1; /* never reached: the recursion goes on until the stack ends */

static long depth(long n)
{
    volatile char frame[256];
    frame[0] = (char)n;
    return n == bottom ? 0 : depth(n + 1) + frame[0];
}
#endif

__attribute__((constructor)) static void start(void)
{
#ifdef INITLOOP
    for (;;)
        __asm__ volatile("");
#endif
#ifdef INITEXIT
    exit(3);
#endif
#ifdef RECURSE
    depth(0);
#endif
}

__attribute__((destructor)) static void stop(void)
{
#ifdef FINILOOP
    for (;;)
        __asm__ volatile("");
#endif
}

long ctor_ping(void)
{
    return 1;
}
TWZ_GATE(ctor_ping);
