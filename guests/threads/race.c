/* Threads that add to one counter without a lock: the total depends on where each thread was preempted. Under
 * --quantum and --schedule-seed the schedule, and so the total and the order of the lines, is the same on every run
 * with the same seed (tests/test_threads.py). */
#include <pthread.h>
#include <stdio.h>

#define THREADS 3
#define ROUNDS 100000

static volatile long counter;

static void *add(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        long seen = counter;
        for (volatile int spin = 0; spin < 3; spin++)
            ;
        counter = seen + 1;
    }
    printf("thread %ld done at %ld\n", (long)arg, counter);
    return 0;
}

int main(void)
{
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&threads[i], 0, add, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], 0);
    printf("counter %ld of %d\n", counter, THREADS * ROUNDS);
    return 0;
}
