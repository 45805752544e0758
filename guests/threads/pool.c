/* A thread pool on condition variables, C11 threads with thread-specific data, a barrier, the first thread's
 * attributes (its stack found as musl walks it) and a thread name (tests/test_threads.py compares with glibc). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <unistd.h>

#define WORKERS 4
#define TASKS 100
static int queue[TASKS], head, tail, done_flag;
static long results[TASKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
static int completed;

static long work(int n) { long s = 0; for (int i = 0; i <= n * 1000; i++) s += i % 7; return s; }

static void *worker(void *arg) {
    for (;;) {
        pthread_mutex_lock(&lock);
        while (head == tail && !done_flag) pthread_cond_wait(&more, &lock);
        if (head == tail && done_flag) { pthread_mutex_unlock(&lock); return arg; }
        int task = queue[head++];
        pthread_mutex_unlock(&lock);
        long r = work(task);
        pthread_mutex_lock(&lock);
        results[task] = r;
        if (++completed == TASKS) pthread_cond_signal(&finished);
        pthread_mutex_unlock(&lock);
    }
}

static tss_t key;
static int destroyed;
static void destroy(void *p) { __atomic_add_fetch(&destroyed, 1, __ATOMIC_SEQ_CST); free(p); }
static int c11(void *arg) { tss_set(key, malloc(16)); return (int)(long)arg * 2; }

static pthread_barrier_t barrier;
static int serial;
static void *barrier_thread(void *arg) { if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) __atomic_add_fetch(&serial, 1, __ATOMIC_SEQ_CST); return arg; }

int main(void) {
    pthread_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_create(&w[i], 0, worker, 0);
    for (int t = 0; t < TASKS; t++) { pthread_mutex_lock(&lock); queue[tail++] = t; pthread_cond_signal(&more); pthread_mutex_unlock(&lock); }
    pthread_mutex_lock(&lock);
    while (completed < TASKS) pthread_cond_wait(&finished, &lock);
    done_flag = 1; pthread_cond_broadcast(&more);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], 0);
    long sum = 0; for (int t = 0; t < TASKS; t++) sum += results[t];
    printf("pool: %d tasks, sum %ld\n", completed, sum);

    tss_create(&key, destroy);
    thrd_t c[3]; int total = 0;
    for (int i = 0; i < 3; i++) thrd_create(&c[i], c11, (void *)(long)(i + 1));
    for (int i = 0; i < 3; i++) { int r; thrd_join(c[i], &r); total += r; }
    printf("c11: total %d, destructors %d\n", total, destroyed);

    pthread_barrier_init(&barrier, 0, 5);
    pthread_t b[4];
    for (int i = 0; i < 4; i++) pthread_create(&b[i], 0, barrier_thread, 0);
    barrier_thread(0);
    for (int i = 0; i < 4; i++) pthread_join(b[i], 0);
    printf("barrier: serial %d\n", serial);

    pthread_attr_t attr; size_t size = 0; void *addr = 0;
    int r = pthread_getattr_np(pthread_self(), &attr);
    if (!r) pthread_attr_getstack(&attr, &addr, &size);
    printf("getattr %d, has stack %d\n", r, size > 0);
    char name[16] = "";
    pthread_setname_np(pthread_self(), "worker");
    pthread_getname_np(pthread_self(), name, sizeof name);
    printf("name %s, cpus>0 %d\n", name, sysconf(_SC_NPROCESSORS_ONLN) > 0);
    return 0;
}
