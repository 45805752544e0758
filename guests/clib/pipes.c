/* A pipe within one process: bytes in order, dup'd ends, end of file once every write end is closed, O_NONBLOCK's
 * EAGAIN, fstat's S_ISFIFO, lseek's ESPIPE, and a write with no reader left: EPIPE under SIGPIPE ignored, then
 * SIGPIPE's default ends the program (141). Built natively too: tests/test_clib.py compares the output. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ends[2];
    printf("pipe: %d\n", pipe(ends));
    write(ends[1], "hello ", 6);
    int copy = dup(ends[1]);
    write(copy, "world", 5);
    char text[32] = {0};
    printf("read %zd: %s\n", read(ends[0], text, sizeof text - 1), text);
    struct stat st;
    fstat(ends[0], &st);
    long r = lseek(ends[0], 0, SEEK_SET);
    printf("fifo %d, lseek %ld ESPIPE %d\n", S_ISFIFO(st.st_mode), r, errno == ESPIPE); /* musl words it apart */

    fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK);
    r = read(ends[0], text, 1);
    printf("empty, non-blocking: %ld %s\n", r, strerror(errno));
    close(ends[1]);
    write(copy, "!", 1);
    close(copy);
    r = read(ends[0], text, sizeof text);
    printf("after the writers closed: %ld, then %zd\n", r, read(ends[0], text, sizeof text));
    close(ends[0]);

    int flagged[2];
    pipe2(flagged, O_NONBLOCK | O_CLOEXEC);
    char block[4096] = {0};
    long total = 0, n;
    while ((n = write(flagged[1], block, sizeof block)) > 0)
        total += n;
    printf("a non-blocking pipe holds %ld bytes, then %s\n", total, strerror(errno));
    fcntl(flagged[0], F_SETFL, 0);
    r = write(flagged[0], "x", 1); /* the read end of a full pipe: EBADF, not a wait */
    printf("write to the read end: %ld EBADF %d\n", r, errno == EBADF);

    FILE *in = fdopen(flagged[0], "r");
    printf("fdopen reads: %d\n", fgetc(in));
    fclose(in);
    signal(SIGPIPE, SIG_IGN);
    r = write(flagged[1], "x", 1);
    printf("no reader, SIGPIPE ignored: %ld %s\n", r, strerror(errno));
    signal(SIGPIPE, SIG_DFL);
    write(flagged[1], "x", 1);
    printf("not reached\n");
    return 0;
}
