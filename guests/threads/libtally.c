/* An isolated library that several threads call at once (tests/test_threads.py): its own lock, its own __thread
 * counters, its own heap; gates that compute long enough to be preempted inside, fault, or end their thread. */
#include <pthread.h>
#include <stdlib.h>
#include <twz.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long sum;
static __thread long calls;

long tally(long n)
{
    long *cell = malloc(sizeof *cell); /* the library's own heap, from several threads */
    *cell = n;
    pthread_mutex_lock(&lock);
    sum += *cell;
    pthread_mutex_unlock(&lock);
    free(cell);
    return ++calls * 1000 + twz_caller_compartment();
}
TWZ_GATE(tally);

long total(void)
{
    pthread_mutex_lock(&lock);
    long value = sum;
    pthread_mutex_unlock(&lock);
    return value;
}
TWZ_GATE(total);

/* Long enough inside the callee for another thread to run meanwhile (and enter here too). */
long churn(long rounds)
{
    volatile unsigned long x = 1;
    for (long i = 0; i < rounds; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    return (long)(x & 0xff) + calls * 0;
}
TWZ_GATE(churn);

long touch(long address)
{
    return *(volatile long *)address;
}
TWZ_GATE(touch);

long end_here(long status)
{
    pthread_exit((void *)status);
}
TWZ_GATE(end_here);
