/* A thread whose recursion never ends runs into the guard page below its stack (tests/test_threads.py). */
#include <pthread.h>
#include <stdio.h>

#pragma GCC diagnostic ignored "-Winfinite-recursion" /* on purpose */

__attribute__((noinline)) static long recurse(long depth)
{
    volatile char frame[256];
    frame[0] = (char)depth;
    return recurse(depth + 1) + frame[0];
}

static void *deep(void *arg)
{
    return (void *)recurse((long)arg);
}

int main(void)
{
    pthread_t thread;
    pthread_create(&thread, 0, deep, 0);
    pthread_join(thread, 0);
    puts("never");
    return 0;
}
