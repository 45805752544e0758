/* Compartment info, a monitor service: each side of a gate asks the monitor who it is (tests/test_isolation.py).
 * The library's gate writes its name into the gate buffer as its reply, which the program then reads at the same
 * address. */
#include <stdio.h>
#include <twz.h>

long who_are_you(void);

int main(void)
{
    printf("program: %ld %s\n", twz_compartment_id(), twz_compartment_name());
    long id = who_are_you();
    printf("library: %ld %s\n", id, (const char *)twz_gate_buffer());
    return 0;
}
