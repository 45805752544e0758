/* libgrchainf: initialised on demand; its constructor calls libgrchaing's gate (initialised on demand in turn),
 * then executes `int $0x80`: a general-protection fault in an initialiser. */
#include "redteam.h"

__attribute__((constructor)) static void start(void)
{
    if (chaing_ping() == 1)
        __asm__ volatile("int $0x80");
}

long chainf_ping(void)
{
    return 1;
}
TWZ_GATE(chainf_ping);
