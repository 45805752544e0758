/* A library with thread-local storage, loaded at run time by guests/dl/threads.c: initialised (.tdata) and zeroed
 * (.tbss) thread-locals, a static one (reached through the library's own module), and a constructor that writes
 * the loading thread's copy. */
#include <stdio.h>

__thread int counter = 5;
__thread char label[32];
static __thread long calls = 100;

__attribute__((constructor)) static void loaded(void)
{
    counter += 10;
}

int counter_bump(void)
{
    calls++;
    return ++counter;
}

const char *counter_label(const char *name)
{
    if (!label[0])
        snprintf(label, sizeof label, "%s's", name);
    return label;
}

long counter_calls(void)
{
    return calls;
}
