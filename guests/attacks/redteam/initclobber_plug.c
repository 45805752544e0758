/* libgrplug: the attacker. Its constructor runs on demand, in the middle of vic_work's call to plug_run, and
 * calls vic_fill: if the monitor builds that frame at the top of libgrvic's stack, over vic_work's suspended
 * frame, the attacker's word lands in vic_work's locals. */
#include "redteam.h"

__attribute__((constructor)) static void start(void)
{
    vic_fill(0x41414141L);
}

long plug_run(void)
{
    return 7;
}
TWZ_GATE(plug_run);
