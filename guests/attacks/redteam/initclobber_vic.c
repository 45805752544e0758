/* libgrvic: an honest library. vic_work keeps canaries in its frame across a call to its plug-in. */
#include "redteam.h"

#define CANARIES 16
static long corrupted = -1;

long vic_work(void)
{
    volatile long canary[CANARIES];
    for (int i = 0; i < CANARIES; i++)
        canary[i] = 0xC0FFEE00L + i;
    long got = plug_run();
    long bad = 0;
    for (int i = 0; i < CANARIES; i++)
        bad += canary[i] != 0xC0FFEE00L + i;
    corrupted = bad;
    return got;
}
TWZ_GATE(vic_work);

long vic_fill(long word)
{
    volatile long junk[CANARIES];
    for (int i = 0; i < CANARIES; i++)
        junk[i] = word;
    return junk[0] == word;
}
TWZ_GATE(vic_fill);

long vic_corrupted(void)
{
    return corrupted;
}
TWZ_GATE(vic_corrupted);
