/* Differential driver for guests/rt/stdlib.c and string.c (renamed rt_*) against glibc. Each stdin line is
 * one case; the answer is "<glibc results> | <rt results>", each a list of name=value. Each <hex> is
 * written x<hex digits>, so that an empty string is still a word.
 *
 *   l <base> <hex>        strtol: value and how far *end got
 *   u <base> <hex>        strtoul
 *   a <hex>               atoi
 *   q <size> <hex>        qsort of the bytes as elements of <size> bytes, compared with memcmp
 *   S <hex a> <hex b> <n> the string and memory functions on a, b and n */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

struct impl {
    long (*strtol)(const char *, char **, int);
    unsigned long (*strtoul)(const char *, char **, int);
    int (*atoi)(const char *);
    void (*qsort)(void *, size_t, size_t, int (*)(const void *, const void *));
    int (*strcmp)(const char *, const char *);
    int (*strncmp)(const char *, const char *, size_t);
    int (*memcmp)(const void *, const void *, size_t);
    size_t (*strlen)(const char *);
    size_t (*strnlen)(const char *, size_t);
    char *(*strchr)(const char *, int);
    char *(*strrchr)(const char *, int);
    void *(*memchr)(const void *, int, size_t);
    char *(*strstr)(const char *, const char *);
    char *(*strncpy)(char *, const char *, size_t);
    char *(*strcpy)(char *, const char *);
    char *(*strcat)(char *, const char *);
    char *(*strdup)(const char *);
    void *(*memmove)(void *, const void *, size_t);
    void *(*memset)(void *, int, size_t);
};

#define RT_DECLARE(ret, name, ...) ret rt_##name(__VA_ARGS__);
RT_DECLARE(long, strtol, const char *, char **, int)
RT_DECLARE(unsigned long, strtoul, const char *, char **, int)
RT_DECLARE(int, atoi, const char *)
RT_DECLARE(void, qsort, void *, size_t, size_t, int (*)(const void *, const void *))
RT_DECLARE(int, strcmp, const char *, const char *)
RT_DECLARE(int, strncmp, const char *, const char *, size_t)
RT_DECLARE(int, memcmp, const void *, const void *, size_t)
RT_DECLARE(size_t, strlen, const char *)
RT_DECLARE(size_t, strnlen, const char *, size_t)
RT_DECLARE(char *, strchr, const char *, int)
RT_DECLARE(char *, strrchr, const char *, int)
RT_DECLARE(void *, memchr, const void *, int, size_t)
RT_DECLARE(char *, strstr, const char *, const char *)
RT_DECLARE(char *, strncpy, char *, const char *, size_t)
RT_DECLARE(char *, strcpy, char *, const char *)
RT_DECLARE(char *, strcat, char *, const char *)
RT_DECLARE(char *, strdup, const char *)
RT_DECLARE(void *, memmove, void *, const void *, size_t)
RT_DECLARE(void *, memset, void *, int, size_t)

#define IMPL(p) { p##strtol, p##strtoul, p##atoi, p##qsort, p##strcmp, p##strncmp, p##memcmp, p##strlen, \
                  p##strnlen, p##strchr, p##strrchr, p##memchr, p##strstr, p##strncpy, p##strcpy, p##strcat, \
                  p##strdup, p##memmove, p##memset }
static const struct impl glibc = IMPL(), rt = IMPL(rt_);

static size_t element_size;

static int compare_bytes(const void *a, const void *b)
{
    return memcmp(a, b, element_size);
}

static int sign(long v)
{
    return (v > 0) - (v < 0);
}

static long offset(const void *found, const void *base)
{
    return found ? (const char *)found - (const char *)base : -1;
}

static void hex_field(const char *name, const void *p, size_t n)
{
    printf("%s=", name);
    print_hex(p, n);
    printf(" ");
}

static void numbers(const struct impl *f, char op, int base, const char *s)
{
    char *end = NULL;

    if (op == 'l')
        printf("value=%ld ", f->strtol(s, &end, base));
    else if (op == 'u')
        printf("value=%lu ", f->strtoul(s, &end, base));
    else
        printf("value=%d ", f->atoi(s));
    if (end)
        printf("end=%ld ", (long)(end - s));
}

static void sort(const struct impl *f, size_t size, const unsigned char *data, size_t n)
{
    unsigned char *copy = malloc(n + 1);

    memcpy(copy, data, n);
    element_size = size;
    f->qsort(copy, n / size, size, compare_bytes);
    hex_field("sorted", copy, n);
    free(copy);
}

static void searches(const struct impl *f, const char *a, const char *b, size_t n)
{
    size_t la = strlen(a), lb = strlen(b), shortest = la < lb ? la : lb;

    printf("strcmp=%d strncmp=%d ", sign(f->strcmp(a, b)), sign(f->strncmp(a, b, n)));
    printf("memcmp=%d ", sign(f->memcmp(a, b, n < shortest + 1 ? n : shortest + 1)));
    printf("strlen=%zu strnlen=%zu ", f->strlen(a), f->strnlen(a, n));
    printf("strchr=%ld strrchr=%ld ", offset(f->strchr(a, b[0]), a), offset(f->strrchr(a, b[0]), a));
    printf("memchr=%ld ", offset(f->memchr(a, b[0], n < la + 1 ? n : la + 1), a));
    printf("strstr=%ld ", offset(f->strstr(a, b), a));
}

/* Each result is in a fresh buffer with guard bytes after it, so that writing too far shows. */
static void copies(const struct impl *f, const char *a, const char *b, size_t n)
{
    size_t la = strlen(a), lb = strlen(b), size = la + lb + n + 64;
    char *buf = malloc(size), *dup;

    memset(buf, 0x5a, size);
    f->strncpy(buf, a, n);
    hex_field("strncpy", buf, n + 8);
    memset(buf, 0x5a, size);
    f->strcat(f->strcpy(buf, a), b);
    hex_field("strcat", buf, la + lb + 8);
    memset(buf, 0x5a, size);
    memcpy(buf + 16, a, la);
    f->memmove(buf + 16 + (long)(n % 33) - 16, buf + 16, la); /* shifts of -16 .. 16: both directions */
    hex_field("memmove", buf, la + 40);
    f->memset(buf, b[0], n % 40);
    hex_field("memset", buf, la + 40);
    dup = f->strdup(a);
    hex_field("strdup", dup, la + 1);
    free(buf);
}

static void answer(const struct impl *f, char *line)
{
    char op = line[0];
    char *rest = line + 2;

    if (op == 'S') {
        char *a = (char *)unhex(strtok(rest, " \n") + 1, NULL), *b = (char *)unhex(strtok(NULL, " \n") + 1, NULL);
        size_t n = strtoul(strtok(NULL, " \n"), NULL, 10);

        searches(f, a, b, n);
        copies(f, a, b, n);
    } else if (op == 'q') {
        size_t n, size = strtoul(strtok(rest, " \n"), NULL, 10);
        unsigned char *data = unhex(strtok(NULL, " \n") + 1, &n);

        sort(f, size, data, n);
    } else if (op == 'a') {
        numbers(f, op, 10, (char *)unhex(strtok(rest, " \n") + 1, NULL));
    } else {
        int base = atoi(strtok(rest, " \n"));

        numbers(f, op, base, (char *)unhex(strtok(NULL, " \n") + 1, NULL));
    }
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;

    while (getline(&line, &cap, stdin) > 0) {
        char *copy = strdup(line);

        answer(&glibc, line);
        printf("| ");
        answer(&rt, copy);
        printf("\n");
        fflush(stdout);
        free(copy);
    }
    return 0;
}
