/* libgrchaine: initialised first; its constructor calls libgrchainf's gate, which is not initialised yet. */
#include "redteam.h"

static long saw = -2;

__attribute__((constructor)) static void start(void)
{
    saw = chainf_ping();
}

long chaine_ping(void)
{
    return 1;
}
TWZ_GATE(chaine_ping);

long chaine_saw(void)
{
    return saw;
}
TWZ_GATE(chaine_saw);
