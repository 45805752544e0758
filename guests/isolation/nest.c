/* Nested (program -> libouter -> libinner), re-entrant (program -> libouter -> the program's own gate),
 * function pointers to gates, the gate buffer, and many crossings in one run. */
#include <stdio.h>
#include <stdlib.h>
#include <twz.h>

long outer_call(long x);
long outer_callback(long (*function)(long), long x);
long outer_sees_caller(void);
long outer_fill_buffer(long byte);
long inner_calls(void);

long main_square(long x)
{
    return x * x + twz_caller_compartment() * 0;
}
TWZ_GATE(main_square);

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;
    printf("nested: %ld\n", outer_call(5));
    printf("re-entrant: %ld\n", outer_callback(main_square, 7));
    long (*via_pointer)(long) = outer_call;
    printf("function pointer: %ld\n", via_pointer(20));
    printf("callers seen: %ld\n", outer_sees_caller());
    char *buffer = (char *)outer_fill_buffer('a');
    printf("gate buffer: %.16s (same address: %s)\n", buffer, buffer == twz_gate_buffer() ? "yes" : "no");
    long sum = 0, expected = 0;
    for (long i = 0; i < rounds; i++) {
        sum += outer_call(i);
        expected += 2 * i + 1;
    }
    printf("%ld nested round trips: %s\n", rounds, sum == expected ? "all correct" : "WRONG");
    printf("inner calls: %ld\n", inner_calls());
    return sum == expected ? 0 : 1;
}
