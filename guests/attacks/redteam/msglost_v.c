/* libgrmsgv: writes a message, calls libgrmsgp (whose constructor then runs on demand and calls msgv_touch,
 * which gives this compartment a message), then writes a new message and sends it to libgrmsgp. */
#include <string.h>

#include "redteam.h"

static long got = -2;

long msgv_send(void)
{
    char *buffer = twz_gate_buffer();
    strcpy(buffer, "first");
    msgp_run();
    strcpy(buffer, "second"); /* the buffer received a message since: this write starts a new one */
    got = msgp_echo();
    return got;
}
TWZ_GATE_LEVEL(msgv_send, TWZ_ISOLATE_CALLEE); /* it runs in its page tables for its caller */

long msgv_touch(void)
{
    return 1;
}
TWZ_GATE(msgv_touch);

long msgv_got(void)
{
    return got;
}
TWZ_GATE(msgv_got);
