/* Output streams: stdout (line-buffered) and stderr (flushed at the end of every call), written with the
 * WRITE service call. Every public function ends in finish(), which decides what reaches the monitor now. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"
#include "sys.h"

enum buffering { LINE_BUFFERED, UNBUFFERED };

struct twz_file {
    int fd;
    enum buffering buffering;
    int newline; /* a '\n' was buffered since the last flush */
    int error;   /* a write failed during the current call */
    size_t len;
    char buf[BUFSIZ];
};

static struct twz_file streams[] = {
    { .fd = 1, .buffering = LINE_BUFFERED },
    { .fd = 2, .buffering = UNBUFFERED },
};

FILE *stdout = &streams[0];
FILE *stderr = &streams[1];

/* The monitor may take less than asked: write until done. Output that fails is dropped, as glibc does. */
static void drain(FILE *f)
{
    size_t done = 0;

    while (done < f->len) {
        long n = twz_sys_write(f->fd, f->buf + done, f->len - done);

        if (n <= 0) {
            f->error = 1;
            break;
        }
        done += (size_t)n;
    }
    f->len = 0;
    f->newline = 0;
}

static void put(FILE *f, const char *s, size_t n)
{
    if (memchr(s, '\n', n))
        f->newline = 1;
    while (n > 0) {
        size_t k = n < BUFSIZ - f->len ? n : BUFSIZ - f->len;

        memcpy(f->buf + f->len, s, k);
        f->len += k;
        s += k;
        n -= k;
        if (f->len == BUFSIZ)
            drain(f);
    }
}

/* A call's result: EOF if one of its writes failed. */
static int finish(FILE *f, int result)
{
    if (f->buffering == UNBUFFERED || f->newline)
        drain(f);
    if (!f->error)
        return result;
    f->error = 0;
    return EOF;
}

int fflush(FILE *f)
{
    if (f == NULL)
        return fflush(stdout) | fflush(stderr);
    drain(f);
    return finish(f, 0);
}

int fputc(int c, FILE *f)
{
    char byte = (char)c;

    put(f, &byte, 1);
    return finish(f, (unsigned char)c);
}

int putc(int c, FILE *f)
{
    return fputc(c, f);
}

int putchar(int c)
{
    return fputc(c, stdout);
}

int fputs(const char *restrict s, FILE *restrict f)
{
    put(f, s, strlen(s));
    return finish(f, 0);
}

int puts(const char *s)
{
    put(stdout, s, strlen(s));
    put(stdout, "\n", 1);
    return finish(stdout, 0);
}

size_t fwrite(const void *restrict p, size_t size, size_t count, FILE *restrict f)
{
    size_t total;

    if (__builtin_mul_overflow(size, count, &total) || total == 0)
        return 0;
    put(f, p, total);
    return finish(f, 0) == EOF ? 0 : count;
}

struct file_sink {
    struct twz_sink sink; /* first, so a struct twz_sink * is a struct file_sink * */
    FILE *f;
};

static void file_put(struct twz_sink *sink, const char *s, size_t n)
{
    put(((struct file_sink *)sink)->f, s, n);
}

int vfprintf(FILE *restrict f, const char *restrict fmt, va_list ap)
{
    struct file_sink sink = { { file_put }, f };

    return finish(f, __twz_vformat(&sink.sink, fmt, ap));
}

int fprintf(FILE *restrict f, const char *restrict fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *restrict fmt, va_list ap)
{
    return vfprintf(stdout, fmt, ap);
}

int printf(const char *restrict fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfprintf(stdout, fmt, ap);
    va_end(ap);
    return n;
}
