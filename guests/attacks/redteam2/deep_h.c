/* libgr2h: a constructor, so the first crossing into it runs it first. */
#include "redteam2.h"

static long ready;

__attribute__((constructor)) static void start(void)
{
    ready = 7;
}

long h_ping(void)
{
    return ready;
}
TWZ_GATE(h_ping);
