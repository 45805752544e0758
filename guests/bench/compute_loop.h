/* The ALU-bound loop of the compute benchmarks (compute.c, threads4.c), which raw Unicorn runs too. */
__attribute__((noinline)) unsigned long compute_loop(unsigned long n)
{
    unsigned long a = 1, b = 0;
    for (unsigned long i = 0; i < n; i++) {
        a = a * 6364136223846793005UL + 1442695040888963407UL;
        b ^= a >> 13;
    }
    return b;
}
