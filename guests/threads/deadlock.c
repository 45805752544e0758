/* Two threads take two mutexes in opposite orders (a barrier makes sure each holds its first): every thread then
 * waits for another, which twzemu reports as a deadlock naming each (tests/test_threads.py). */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t first = PTHREAD_MUTEX_INITIALIZER, second = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both;

static void *forwards(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&first);
    pthread_barrier_wait(&both);
    pthread_mutex_lock(&second);
    return 0;
}

static void *backwards(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&second);
    pthread_barrier_wait(&both);
    pthread_mutex_lock(&first);
    return 0;
}

int main(void)
{
    pthread_t a, b;
    pthread_barrier_init(&both, 0, 2);
    pthread_create(&a, 0, forwards, 0);
    pthread_create(&b, 0, backwards, 0);
    puts("waiting");
    pthread_join(a, 0);
    puts("never");
    return 0;
}
