/* libgr2e: initialised first; its constructor drives the recursion at depths around the crossing stack's end. */
#include "redteam2.h"

#define ATTEMPTS 8
static long results[ATTEMPTS];

__attribute__((constructor)) static void start(void)
{
    for (long i = 0; i < ATTEMPTS; i++)
        results[i] = f_rec(4097 - i, (long)g_rec, (long)f_rec, (long)h_ping);
}

long e_results(long i)
{
    return i >= 0 && i < ATTEMPTS ? results[i] : -99;
}
TWZ_GATE(e_results);
