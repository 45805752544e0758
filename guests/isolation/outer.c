/* libouter: isolated, and itself a caller of another isolated library (libinner) and of the program's gates. */
#include <stdio.h>
#include <twz.h>

long inner_twice(long x);
long inner_caller(void);

long outer_call(long x)
{
    return inner_twice(x) + 1;
}
TWZ_GATE(outer_call);

/* Calls back into whoever passed the function: a gate of the caller's compartment (re-entrant crossing). */
long outer_callback(long (*function)(long), long x)
{
    return function(x) + 1000;
}
TWZ_GATE(outer_callback);

long outer_sees_caller(void)
{
    return twz_caller_compartment() * 100 + inner_caller();
}
TWZ_GATE(outer_sees_caller);

/* Writes into the gate buffer, which the caller sees at the same address. */
long outer_fill_buffer(long byte)
{
    char *buffer = twz_gate_buffer();
    for (int i = 0; i < 16; i++)
        buffer[i] = (char)(byte + i);
    return (long)buffer;
}
TWZ_GATE(outer_fill_buffer);

/* Runs in this compartment when the program exits normally: the monitor calls it, as it called the
 * constructors at load time. */
__attribute__((destructor)) static void outer_fini(void)
{
    puts("fini libouter");
}
