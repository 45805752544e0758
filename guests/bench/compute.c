/* ALU-bound loop; the benchmark runs compute_loop under twzemu and under raw Unicorn. */
#include "twz_rt.h"

#include "compute_loop.h"

int main(void)
{
    return (int)(compute_loop(COMPUTE_ITERATIONS) & 1);
}
