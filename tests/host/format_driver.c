/* Differential driver for guests/rt/format.c: each stdin line is one call, made with glibc's printf family
 * and with the runtime's (renamed rt_*), and both results are printed for tests/test_runtime_host.py.
 *
 *   in:  n <size> f<format hex> <arg>...   snprintf(buf, size, format, args...)
 *        s 0 f<format hex> <arg>...        sprintf(buf, format, args...)
 *        an <arg> is i<decimal int64> or s<hex string>; every argument is passed as a 64-bit word, which is
 *        what va_arg reads for int-sized arguments on x86-64 too (the low half of the register or slot)
 *   out: <glibc result> <glibc buffer hex> <rt result> <rt buffer hex>
 * The buffers are dumped past the size given, so a write beyond it shows as a changed guard byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define MAX_ARGS 16
#define GUARD 16
#define SPRINTF_BUFFER 8192
#define GUARD_BYTE 0xa5

int rt_snprintf(char *buf, size_t size, const char *fmt, ...);
int rt_sprintf(char *buf, const char *fmt, ...);

typedef unsigned long word;

struct call {
    char mode;
    size_t size;
    char *fmt;
    word args[MAX_ARGS];
};

#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
#define ARGS(a) a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]

static int call_glibc(const struct call *c, char *buf)
{
    return c->mode == 's' ? sprintf(buf, c->fmt, ARGS(c->args)) : snprintf(buf, c->size, c->fmt, ARGS(c->args));
}

static int call_rt(const struct call *c, char *buf)
{
    return c->mode == 's' ? rt_sprintf(buf, c->fmt, ARGS(c->args)) : rt_snprintf(buf, c->size, c->fmt, ARGS(c->args));
}

static void parse(char *line, struct call *c)
{
    int i = 0;
    char *tok = strtok(line, " \n");

    c->mode = tok[0];
    c->size = strtoul(strtok(NULL, " \n"), NULL, 10);
    c->fmt = (char *)unhex(strtok(NULL, " \n") + 1, NULL);
    memset(c->args, 0, sizeof c->args);
    while ((tok = strtok(NULL, " \n")) && i < MAX_ARGS)
        c->args[i++] = tok[0] == 's' ? (word)unhex(tok + 1, NULL) : (word)strtoll(tok + 1, NULL, 10);
}

static void report(int r, const char *buf, size_t n)
{
    printf("%d ", r);
    print_hex(buf, n);
}

int main(void)
{
    static char glibc_buf[SPRINTF_BUFFER + GUARD], rt_buf[SPRINTF_BUFFER + GUARD];
    char *line = NULL;
    size_t cap = 0;

    while (getline(&line, &cap, stdin) > 0) {
        struct call c;
        int r1, r2;
        size_t shown;

        parse(line, &c);
        memset(glibc_buf, GUARD_BYTE, sizeof glibc_buf);
        memset(rt_buf, GUARD_BYTE, sizeof rt_buf);
        r1 = call_glibc(&c, glibc_buf);
        r2 = call_rt(&c, rt_buf);
        shown = c.mode == 's' ? (size_t)(r1 > r2 ? r1 : r2) + 1 + GUARD : c.size + GUARD;
        if (shown > sizeof glibc_buf)
            shown = sizeof glibc_buf;
        report(r1, glibc_buf, shown);
        printf(" ");
        report(r2, rt_buf, shown);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
