/* dlopen of a library with thread-local storage (guests/dl/counters.c, tests/test_dlopen.py): each thread has its
 * own copy of the library's thread-locals, whether it existed before the dlopen (and first touches them after) or
 * was created after it; dlsym of a thread-local gives the calling thread's copy; the constructor's write is the
 * loading thread's alone. The output is compared with the same source built by gcc against glibc. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static int (*bump)(void);
static const char *(*label)(const char *);
static long (*calls)(void);
static void *library;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t opened = PTHREAD_COND_INITIALIZER;
static int ready;

static void report(const char *who)
{
    int first = bump();
    int second = bump();
    int *mine = dlsym(library, "counter");
    printf("%s: bump %d %d, own copy %d (%s), calls %ld, label %s\n", who, first, second, *mine,
           mine && *mine == second ? "the same" : "another", calls(), label(who));
}

static void *early(void *arg)
{
    pthread_mutex_lock(&lock);
    while (!ready)
        pthread_cond_wait(&opened, &lock);
    pthread_mutex_unlock(&lock);
    report("early");
    return arg;
}

static void *late(void *arg)
{
    report("late");
    return arg;
}

int main(void)
{
    pthread_t before, after;
    pthread_create(&before, 0, early, 0);
    library = dlopen("libcounters.so", RTLD_NOW);
    if (!library) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    bump = (int (*)(void))dlsym(library, "counter_bump");
    label = (const char *(*)(const char *))dlsym(library, "counter_label");
    calls = (long (*)(void))dlsym(library, "counter_calls");
    report("main");
    pthread_mutex_lock(&lock);
    ready = 1;
    pthread_cond_signal(&opened);
    pthread_mutex_unlock(&lock);
    pthread_join(before, 0);
    pthread_create(&after, 0, late, 0);
    pthread_join(after, 0);
    report("main again");
    printf("missing thread-local: %s\n", dlsym(library, "nothing_here") ? "found" : "not found");
    return dlclose(library);
}
