/* A loop of no-op hypercalls: the cost of the monitor's hypercall path. Only compartment 0 may make hypercalls,
 * so the benchmark runs this one with that check lifted (benchmarks/twz.py); guests use services.c's way. */
#include "twz_hypercall.h"

int main(void)
{
    for (long i = 0; i < HYPERCALLS; i++)
        twz_hypercall0(TWZ_HC_NOP);
    return 0;
}
