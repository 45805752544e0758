/* libgrmsgs: an honest library whose constructor uses libgrmsgv (initialised after it, before libgrmsgp). */
#include "redteam.h"

__attribute__((constructor)) static void start(void)
{
    msgv_send();
}

long msgs_ok(void)
{
    return 1;
}
TWZ_GATE(msgs_ok);
