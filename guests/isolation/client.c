/* Calls an isolated library through its gates: values cross in registers; a raw pointer into the caller does
 * not work under full isolation; touching the service's memory directly is a violation. */
#include <stdio.h>
#include <twz.h>

long counter_add(long amount);
long counter_calls_from(long compartment);
long counter_sum(long a, long b, long c, long d, long e, long f);
long counter_peek(long *pointer);
long counter_total_address(void);

int main(int argc, char **argv)
{
    long local = 7;
    printf("add: %ld\n", counter_add(5));
    printf("add: %ld\n", counter_add(10));
    printf("sum: %ld\n", counter_sum(1, 2, 3, 4, 5, 6));
    printf("calls from me: %ld, caller outside a gate: %ld\n", counter_calls_from(1), twz_caller_compartment());
    printf("peek my stack: %ld\n", counter_peek(&local));
    long *total = (long *)counter_total_address();
    printf("service still works: %ld\n", counter_add(1));
    if (argc > 1) {
        printf("now reading the service's memory directly\n");
        printf("total = %ld\n", *total);
    }
    return 0;
}
