/* Threads through musl's pthreads: create and join, a mutex-guarded counter, a condition variable between a
 * producer and consumers, thread-specific data, __thread, sched_yield and nanosleep, a read-write lock, once,
 * semaphores, cancellation of a thread waiting on a condition, C11 threads. Its output does not depend on the
 * schedule: the tests compare it with the same source built by gcc against glibc. */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <threads.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 4
#define ROUNDS 20000
#define ITEMS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread long mine = 7;
static __thread char name[16] = "main";

static void *count(void *arg)
{
    long id = (long)arg;
    snprintf(name, sizeof name, "worker%ld", id);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        mine++;
        if (i % 5000 == 0)
            sched_yield();
    }
    return (void *)(mine * 100 + id + (strncmp(name, "worker", 6) == 0));
}

static pthread_cond_t ready = PTHREAD_COND_INITIALIZER, room = PTHREAD_COND_INITIALIZER;
static int queue[8], head, tail, done;
static long sums[2];

static void *consume(void *arg)
{
    long id = (long)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (head == tail && !done)
            pthread_cond_wait(&ready, &lock);
        if (head == tail && done) {
            pthread_mutex_unlock(&lock);
            return 0;
        }
        int item = queue[head++ % 8];
        pthread_cond_signal(&room);
        pthread_mutex_unlock(&lock);
        sums[id] += item;
    }
}

static pthread_key_t key;
static int destroyed;
static void destroy(void *value)
{
    __atomic_add_fetch(&destroyed, (int)(long)value, __ATOMIC_SEQ_CST);
}

static void *keep(void *arg)
{
    pthread_setspecific(key, arg);
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, 0);
    return pthread_getspecific(key);
}

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static long table[16];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;
static void run_once(void)
{
    once_runs++;
}

static void *reader_writer(void *arg)
{
    long id = (long)arg, seen = 0;
    pthread_once(&once, run_once);
    for (int i = 0; i < 2000; i++) {
        if (i % 10 == (int)id) {
            pthread_rwlock_wrlock(&table_lock);
            for (int j = 0; j < 16; j++)
                table[j]++;
            pthread_rwlock_unlock(&table_lock);
        } else {
            pthread_rwlock_rdlock(&table_lock);
            long first = table[0];
            for (int j = 1; j < 16; j++)
                if (table[j] != first)
                    seen++; /* a writer in the middle of its update: never, with the lock */
            pthread_rwlock_unlock(&table_lock);
        }
    }
    return (void *)seen;
}

static sem_t items, slots;
static long semaphore_sum;
static void *sem_consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        sem_wait(&items);
        semaphore_sum += i;
        sem_post(&slots);
    }
    return 0;
}

static pthread_mutex_t cancel_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int cleaned;
static void cleanup(void *arg)
{
    cleaned = (int)(long)arg;
    pthread_mutex_unlock(&cancel_lock);
}
static void *waits_forever(void *arg)
{
    pthread_mutex_lock(&cancel_lock);
    pthread_cleanup_push(cleanup, arg);
    for (;;)
        pthread_cond_wait(&never, &cancel_lock);
    pthread_cleanup_pop(0);
    return 0;
}

static mtx_t c11_lock;
static int c11_count;
static int c11_worker(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        mtx_lock(&c11_lock);
        c11_count += (int)(long)arg;
        mtx_unlock(&c11_lock);
    }
    return (int)(long)arg;
}

static void more(void)
{
    pthread_t rw[4];
    long inconsistent = 0;
    for (long i = 0; i < 4; i++)
        pthread_create(&rw[i], 0, reader_writer, (void *)i);
    for (int i = 0; i < 4; i++) {
        void *seen;
        pthread_join(rw[i], &seen);
        inconsistent += (long)seen;
    }
    printf("rwlock table %ld, torn reads %ld, once %d\n", table[5], inconsistent, once_runs);

    sem_init(&items, 0, 0);
    sem_init(&slots, 0, 4);
    pthread_t consumer;
    pthread_create(&consumer, 0, sem_consumer, 0);
    for (int i = 0; i < 100; i++) {
        sem_wait(&slots);
        sem_post(&items);
    }
    pthread_join(consumer, 0);
    printf("semaphores %ld\n", semaphore_sum);

    pthread_t victim;
    void *result;
    pthread_create(&victim, 0, waits_forever, (void *)7);
    struct timespec pause = {0, 5000000};
    nanosleep(&pause, 0);
    pthread_cancel(victim);
    pthread_join(victim, &result);
    printf("cancelled %d, cleanup %d\n", result == PTHREAD_CANCELED, cleaned);

    thrd_t c11[3];
    mtx_init(&c11_lock, mtx_plain);
    for (long i = 0; i < 3; i++)
        thrd_create(&c11[i], c11_worker, (void *)(i + 1));
    int sum = 0;
    for (int i = 0; i < 3; i++) {
        int value;
        thrd_join(c11[i], &value);
        sum += value;
    }
    printf("c11 %d %d\n", c11_count, sum);
}

int main(void)
{
    pthread_t threads[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        if (pthread_create(&threads[i], 0, count, (void *)i))
            return 1;
    long total = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        total += (long)result;
    }
    printf("counter %ld (expected %d), results %ld, main's own %ld %s\n", counter, WORKERS * ROUNDS, total, mine,
           name);

    pthread_t consumers[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&consumers[i], 0, consume, (void *)i);
    for (int item = 1; item <= ITEMS; item++) {
        pthread_mutex_lock(&lock);
        while (tail - head == 8)
            pthread_cond_wait(&room, &lock);
        queue[tail++ % 8] = item;
        pthread_cond_signal(&ready);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&ready);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < 2; i++)
        pthread_join(consumers[i], 0);
    printf("consumed %ld (expected %d)\n", sums[0] + sums[1], ITEMS * (ITEMS + 1) / 2);

    pthread_key_create(&key, destroy);
    pthread_t keepers[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&keepers[i], 0, keep, (void *)(i + 1));
    long kept = 0;
    for (int i = 0; i < 3; i++) {
        void *value;
        pthread_join(keepers[i], &value);
        kept += (long)value;
    }
    printf("kept %ld, destroyed %d\n", kept, destroyed);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t detached;
    pthread_create(&detached, &attr, keep, (void *)9);
    struct timespec pause = {0, 20000000};
    nanosleep(&pause, 0);
    printf("self %d\n", pthread_equal(pthread_self(), pthread_self()));
    more();
    return 0;
}
