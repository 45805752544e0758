/* libgframey: level none, so it runs on its caller's stack; its canaries must survive a callback into the
 * caller made from a compartment it calls. */
#include <stdio.h>
#include "holes.h"

long gframey_work(long callback)
{
    volatile long canary[48];
    for (int i = 0; i < 48; i++)
        canary[i] = 0xC0FFEE00 + i;
    long result = gframez_call(callback, 0x41);
    long corrupted = 0;
    for (int i = 0; i < 48; i++)
        corrupted += canary[i] != 0xC0FFEE00 + i;
    printf("callback returned %#lx\n", result);
    return corrupted;
}
TWZ_GATE_LEVEL(gframey_work, TWZ_ISOLATE_NONE);
