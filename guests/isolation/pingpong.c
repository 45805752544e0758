/* Deep mutual recursion across a gate boundary: the program's gate pong and libping's gate ping call each
 * other n times (tests/test_isolation.py). Every level is a crossing, each compartment re-entered below its
 * own suspended frame; the monitor refuses to nest more than its crossing stack holds, in one line. */
#include <stdio.h>
#include <stdlib.h>
#include <twz.h>

long ping(long n);

long pong(long n) { return n <= 0 ? 0 : 1 + ping(n - 1); }
TWZ_GATE(pong);

int main(int argc, char **argv)
{
    long n = argc > 1 ? atoi(argv[1]) : 10;
    printf("depth %ld: %ld\n", n, ping(n));
    return 0;
}
