/* Four threads share compute.c's loop (the same work in all, split four ways); the benchmark runs it under
 * twzemu's scheduler and compares with raw Unicorn running compute_loop(COMPUTE_ITERATIONS) once. */
#include <pthread.h>

#include "compute_loop.h"

static void *quarter(void *arg)
{
    (void)arg;
    return (void *)compute_loop(COMPUTE_ITERATIONS / 4);
}

int main(void)
{
    pthread_t threads[4];
    unsigned long result = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&threads[i], 0, quarter, 0);
    for (int i = 0; i < 4; i++) {
        void *value;
        pthread_join(threads[i], &value);
        result ^= (unsigned long)value;
    }
    return (int)(result & 1);
}
