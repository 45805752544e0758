/* Two threads hand the CPU to each other YIELDS times each with sched_yield: each yield is a call of the monitor's
 * system-call service and a switch to the other thread (the benchmark's thread_switch_us). */
#include <pthread.h>
#include <sched.h>

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < YIELDS; i++)
        sched_yield();
    return 0;
}

int main(void)
{
    pthread_t other;
    pthread_create(&other, 0, yielder, 0);
    yielder(0);
    pthread_join(other, 0);
    return 0;
}
