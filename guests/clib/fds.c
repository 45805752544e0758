/* Descriptors as a process has them (tests/test_clib.py): dup and dup2 share one open file and its offset, the
 * standard streams can be replaced (freopen, a redirected stdout) and closed, fcntl, sleeping, umask, times. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    int fd = open("a.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    int copy = dup(fd);
    printf("dup gives a new number: %d\n", copy > fd);
    write(fd, "hello ", 6);
    write(copy, "world\n", 6); /* one offset: appended after hello */
    lseek(fd, 0, SEEK_SET);
    char buf[32] = {0};
    read(copy, buf, sizeof buf - 1);
    printf("shared offset: %s", buf);
    close(fd);
    printf("still open through the copy: %ld\n", (long)lseek(copy, 0, SEEK_END));
    int flags = fcntl(copy, F_GETFL);
    printf("F_GETFL rdwr: %d\n", (flags & O_ACCMODE) == O_RDWR);
    int high = fcntl(copy, F_DUPFD, 10);
    printf("F_DUPFD 10: %d\n", high >= 10);
    printf("bad fd: %d\n", fcntl(99, F_GETFL));
    close(high);
    close(copy);

    fflush(stdout);
    int saved = dup(1);
    int out = open("out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    close(out);
    printf("this line goes to out.txt\n");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen("out.txt", "r");
    fgets(buf, sizeof buf, f);
    fclose(f);
    printf("redirected: %s", buf);

    FILE *g = freopen("re.txt", "w", stderr);
    fprintf(g, "to re.txt\n");
    fclose(g);
    f = fopen("re.txt", "r");
    fgets(buf, sizeof buf, f);
    fclose(f);
    printf("freopen: %s", buf);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("usleep: %d\n", usleep(100000));
    struct timespec req = {0, 50000000};
    printf("nanosleep: %d\n", nanosleep(&req, 0));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double slept = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("slept at least 0.15 s: %d\n", slept >= 0.15);
    printf("umask: %o %o\n", umask(077), umask(022));
    struct tms tm;
    printf("times: %d\n", times(&tm) != (clock_t)-1);
    printf("clock starts near 0: %d\n", clock() < CLOCKS_PER_SEC);
    fflush(stdout);
    close(1);
    printf("after closing stdout\n");
    fflush(stdout);
    fprintf(stderr, "stdout closed: %d\n", ferror(stdout) != 0);
    return 0;
}
