/* libtakeover.so (tests/test_link_attacks.py): the honest library the program takeover loads. The attacks
 * evil_service.c and evil_export.c are libraries of the same name (found first with `-L`) that try to take
 * the monitor's services over. */
#include <twz.h>

long takeover_ping(void)
{
    return 7;
}
TWZ_GATE(takeover_ping);
