/* libinner: the innermost compartment of the nesting test (program -> libouter -> libinner). */
#include <twz.h>

static long calls;

long inner_twice(long x)
{
    calls++;
    return 2 * x;
}
TWZ_GATE(inner_twice);

long inner_calls(void)
{
    return calls;
}
TWZ_GATE(inner_calls);

long inner_caller(void)
{
    return twz_caller_compartment();
}
TWZ_GATE(inner_caller);
