/* A loop of no-op hypercalls: the cost of one monitor round trip. */
#include "twz_hypercall.h"

int main(void)
{
    for (long i = 0; i < HYPERCALLS; i++)
        twz_hypercall0(TWZ_HC_NOP);
    return 0;
}
