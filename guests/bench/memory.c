/* Memory-bound loop over a 256 KiB buffer in the data object. */
#define WORDS (256 * 1024 / 8)
unsigned long buffer[WORDS];

__attribute__((noinline)) unsigned long memory_loop(unsigned long n)
{
    unsigned long sum = 0;
    for (unsigned long i = 0; i < n; i++) {
        unsigned long j = (i * 17) & (WORDS - 1);
        buffer[j] += i;
        sum += buffer[(j + 1) & (WORDS - 1)];
    }
    return sum;
}

int main(void)
{
    return (int)(memory_loop(MEMORY_ITERATIONS) & 1);
}
