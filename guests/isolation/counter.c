/* libcounter: an isolated service. Its state lives in its own compartment; callers reach it through gates. */
#include <stdio.h>
#include <twz.h>

static long total;
static long calls_from[8];

long counter_add(long amount)
{
    long caller = twz_caller_compartment();
    if (caller >= 0 && caller < 8)
        calls_from[caller]++;
    total += amount;
    return total;
}
TWZ_GATE(counter_add);

long counter_calls_from(long compartment)
{
    return compartment >= 0 && compartment < 8 ? calls_from[compartment] : -1;
}
TWZ_GATE(counter_calls_from);

long counter_sum(long a, long b, long c, long d, long e, long f)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}
TWZ_GATE(counter_sum);

/* Reads memory it is given a raw pointer to: under full isolation, a pointer into the caller is a violation. */
long counter_peek(long *pointer)
{
    return *pointer;
}
TWZ_GATE(counter_peek);

long counter_total_address(void)
{
    return (long)&total;
}
TWZ_GATE(counter_total_address);

__attribute__((constructor)) static void counter_init(void) { total = 100; }
