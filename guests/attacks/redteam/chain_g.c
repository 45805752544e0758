/* libgrchaing: initialised on demand from libgrchainf's constructor; its own constructor calls libgrchaine's
 * gate, whose compartment is still initialising (the cycle is refused: TWZ_EPERM). */
#include "redteam.h"

static long saw = -2;

__attribute__((constructor)) static void start(void)
{
    saw = chaine_ping();
}

long chaing_ping(void)
{
    return 1;
}
TWZ_GATE(chaing_ping);

long chaing_saw(void)
{
    return saw;
}
TWZ_GATE(chaing_saw);
