/* libgrmsgp: initialised on demand in the middle of msgv_send; its constructor calls libgrmsgv back. */
#include <string.h>

#include "redteam.h"

__attribute__((constructor)) static void start(void)
{
    msgv_touch();
}

long msgp_run(void)
{
    return 1;
}
TWZ_GATE(msgp_run);

long msgp_echo(void)
{
    long first = 0;
    memcpy(&first, twz_gate_buffer(), 7);
    return first;
}
TWZ_GATE(msgp_echo);
