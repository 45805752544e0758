/* Threads crossing into an isolated library at once (tests/test_threads.py): every thread's calls land in the
 * library's own lock and counters; a violation inside one thread's crossing fails that call alone; a thread that
 * ends inside the library ends alone. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <twz.h>

long tally(long n);
long total(void);
long churn(long rounds);
long touch(long address);
long end_here(long status);

#define THREADS 4
#define CALLS 300

static long secret = 42;
static volatile int after_end;

static void *caller(void *arg)
{
    long id = (long)arg, last = 0;
    for (int i = 0; i < CALLS; i++) {
        last = tally(id + 1);
        if (i % 100 == 0)
            churn(200000);
    }
    return (void *)last;
}

static void *faulting(void *arg)
{
    (void)arg;
    return (void *)touch((long)&secret); /* the library may not read the program's memory */
}

static void *ending(void *arg)
{
    (void)arg;
    end_here(7);
    after_end = 1;
    return 0;
}

int main(void)
{
    pthread_t threads[THREADS], bad;
    for (long i = 0; i < THREADS; i++)
        pthread_create(&threads[i], 0, caller, (void *)i);
    pthread_create(&bad, 0, faulting, 0);
    long last = 0;
    for (int i = 0; i < THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        last += (long)result;
    }
    void *faulted;
    pthread_join(bad, &faulted);
    printf("total %ld (expected %d), last calls %ld, fault %ld\n", total(), CALLS * (1 + 2 + 3 + 4), last,
           (long)faulted);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t ender;
    pthread_create(&ender, &attr, ending, 0);
    struct timespec pause = {0, 30000000};
    nanosleep(&pause, 0);
    printf("after end %d, tally again %ld, total %ld\n", after_end, tally(1) / 1000, total());
    return 0;
}
