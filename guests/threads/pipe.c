/* One thread reads a pipe another writes (tests/test_threads.py): the reader waits while the writer runs. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int ends[2];

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++) {
        char line[32];
        int length = snprintf(line, sizeof line, "line %d\n", i);
        write(ends[1], line, (size_t)length);
        usleep(2000);
    }
    close(ends[1]);
    return 0;
}

int main(void)
{
    pipe(ends);
    pthread_t thread;
    pthread_create(&thread, 0, writer, 0);
    char buffer[256];
    size_t total = 0;
    ssize_t got;
    while ((got = read(ends[0], buffer + total, sizeof buffer - 1 - total)) > 0)
        total += (size_t)got;
    buffer[total] = 0;
    pthread_join(thread, 0);
    printf("%s%zu bytes\n", buffer, total);
    return 0;
}
