/* libgcyclea: its constructor calls libgcycleb's gate, whose constructor calls this one's. */
#include "holes.h"

static long saw;

__attribute__((constructor)) static void start(void)
{
    saw = gcycleb_ping();
}

long gcyclea_ping(void)
{
    return 1;
}
TWZ_GATE(gcyclea_ping);

long gcyclea_saw(void)
{
    return saw;
}
TWZ_GATE(gcyclea_saw);
