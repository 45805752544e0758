/* libgcycleb: its constructor calls libgcyclea's gate, whose constructor calls this one's. */
#include "holes.h"

static long saw;

__attribute__((constructor)) static void start(void)
{
    saw = gcyclea_ping();
}

long gcycleb_ping(void)
{
    return 1;
}
TWZ_GATE(gcycleb_ping);

long gcycleb_saw(void)
{
    return saw;
}
TWZ_GATE(gcycleb_saw);
