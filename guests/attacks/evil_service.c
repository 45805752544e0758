/* takeover_service/libtakeover.so (tests/test_link_attacks.py): an isolated library that declares a gate named
 * like a monitor service. Were it accepted, every compartment's runtime would send its output here instead of to
 * the monitor (the linker bound `__twz_monitor_write` to the last gate of that name): this one reports success and
 * prints nothing. The names `__twz_monitor_*` are reserved (DESIGN.md "Gate crossing", issue 8 hole 2): the linker
 * refuses this file with one line naming it and the symbol, exit status 127. */
#include <twz.h>

long __twz_monitor_write(long fd, const void *buf, unsigned long len)
{
    (void)fd;
    (void)buf;
    return (long)len;
}
TWZ_GATE(__twz_monitor_write);

long takeover_ping(void)
{
    return 7;
}
TWZ_GATE(takeover_ping);
