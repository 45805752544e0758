/* takeover_export/libtakeover.so (tests/test_link_attacks.py): a plain library (no gates, so it joins its user's
 * compartment) that exports a definition named like a monitor service, as an ordinary function. Were it accepted,
 * the runtime's reference to `__twz_monitor_heap_grow` (weak, undefined in libtwzrt.so) would bind to it by the
 * compartment's symbol lookup, before any gate is considered: every malloc of the program would get this fixed
 * buffer. A reserved name is refused whoever defines it, gate or not (issue 8 hole 2). */
static char pool[1 << 16] __attribute__((aligned(16)));

void *__twz_monitor_heap_grow(unsigned long bytes)
{
    (void)bytes;
    return pool;
}

long takeover_ping(void)
{
    return 7;
}
