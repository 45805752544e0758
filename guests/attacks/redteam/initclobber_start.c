/* libgrstart: an honest library whose constructor uses libgrvic. It is initialised after libgrvic and before
 * libgrplug (initialisers run dependencies first: the reverse of the load order). */
#include "redteam.h"

static long got = -2;

__attribute__((constructor)) static void start(void)
{
    got = vic_work();
}

long start_got(void)
{
    return got;
}
TWZ_GATE(start_got);
