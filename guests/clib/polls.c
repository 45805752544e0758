/* poll and select on pipes, a bad descriptor and stdin, with and without timeouts. Built natively too:
 * tests/test_clib.py compares the output with glibc's (stdin given a line). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int p[2];
    pipe(p);
    struct pollfd fds[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}};
    int r = poll(fds, 3, 0);
    printf("empty pipe: %d, read end %#x, write end %#x\n", r, fds[0].revents, fds[1].revents);
    write(p[1], "x", 1);
    r = poll(fds, 2, 1000);
    printf("after a write: %d, read end %#x\n", r, fds[0].revents);
    close(p[1]);
    char c;
    read(p[0], &c, 1);
    r = poll(fds, 1, -1);
    printf("writer closed: %d, read end %#x\n", r, fds[0].revents);
    int closed = dup(0); /* a descriptor surely closed */
    close(closed);
    struct pollfd bad = {closed, POLLIN, 0};
    r = poll(&bad, 1, 0);
    printf("bad descriptor: %d %#x\n", r, bad.revents);

    int q[2];
    pipe(q);
    fd_set readable, writable;
    FD_ZERO(&readable);
    FD_ZERO(&writable);
    FD_SET(q[0], &readable);
    FD_SET(q[1], &writable);
    struct timeval zero = {0, 0};
    r = select(q[1] + 1, &readable, &writable, NULL, &zero);
    printf("select: %d, readable %d, writable %d\n", r, FD_ISSET(q[0], &readable), FD_ISSET(q[1], &writable));
    FD_ZERO(&readable);
    FD_SET(q[0], &readable);
    struct timeval short_wait = {0, 200000};
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    r = select(q[0] + 1, &readable, NULL, NULL, &short_wait);
    clock_gettime(CLOCK_MONOTONIC, &after);
    long waited = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
    printf("select timed out: %d, waited at least 0.2 s: %d\n", r, waited >= 190);
    struct pollfd in = {0, POLLIN, 0};
    r = poll(&in, 1, 2000);
    printf("stdin: %d readable %d\n", r, (in.revents & POLLIN) != 0);
    char line[64] = "";
    if (r > 0 && fgets(line, sizeof line, stdin))
        printf("read: %s", line);
    return 0;
}
