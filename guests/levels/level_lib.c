/* One library per isolation level (built four times, NAME = none/callee/caller/full, LEVEL = TWZ_ISOLATE_*):
 * its gates touch the caller's memory or report where they run, for the trust-table tests. */
#include <twz.h>

#define CAT3(a, b, c) a##b##c
#define GATE(name, what) CAT3(level_, name, what)
#define MINE(what) GATE(NAME, what)

static long data_word = 42;

long MINE(_read)(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE_LEVEL(MINE(_read), LEVEL);

long MINE(_write)(long address)
{
    *(volatile long *)address = 4242;
    return 0;
}
TWZ_GATE_LEVEL(MINE(_write), LEVEL);

long MINE(_data)(void)
{
    return (long)&data_word;
}
TWZ_GATE_LEVEL(MINE(_data), LEVEL);

/* Whether this gate runs on the stack its caller passes a local of (the same 1 GiB slot). */
long MINE(_shares_stack)(long caller_local)
{
    long here = 0;
    return ((long)&here >> 30) == (caller_local >> 30);
}
TWZ_GATE_LEVEL(MINE(_shares_stack), LEVEL);
