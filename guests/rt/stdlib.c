/* Number conversion, sorting and the environment. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int abs(int x)
{
    return x < 0 ? -x : x;
}

long labs(long x)
{
    return x < 0 ? -x : x;
}

static int is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The value of `c` as a digit of any base up to 36; 36 for a character that is no digit. */
static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 36;
}

/* Base 0 reads a C prefix (0x hex, 0 octal); base 16 may have 0x. A "0x" without a hex digit after it is
 * the number 0 followed by "x" (C17 7.22.1.4). */
static int read_base(const char **s, int base)
{
    int hex_prefix = (*s)[0] == '0' && ((*s)[1] | 0x20) == 'x' && digit_value((*s)[2]) < 16;

    if ((base == 0 || base == 16) && hex_prefix) {
        *s += 2;
        return 16;
    }
    if (base == 0)
        return (*s)[0] == '0' ? 8 : 10;
    return base;
}

struct parsed {
    unsigned long magnitude; /* saturated at the caller's limit */
    int negative;
    int overflow;
};

/* strtoul's and strtol's common part; *end as C17 7.22.1.4p5-7 say. */
static struct parsed parse(const char *s, char **end, int base, unsigned long limit)
{
    struct parsed r = { 0, 0, 0 };
    const char *start = s;
    int any = 0, d;

    while (is_space(*s))
        s++;
    r.negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    base = read_base(&s, base);
    for (; base >= 2 && base <= 36 && (d = digit_value(*s)) < base; s++, any = 1) {
        if (r.magnitude > (limit - (unsigned long)d) / (unsigned long)base)
            r.overflow = 1;
        r.magnitude = r.overflow ? limit : r.magnitude * (unsigned long)base + (unsigned long)d;
    }
    if (end)
        *end = (char *)(any ? s : start);
    return r;
}

/* A negative result is the negated magnitude, in unsigned arithmetic (C17 7.22.1.4p5). */
unsigned long strtoul(const char *restrict s, char **restrict end, int base)
{
    struct parsed r = parse(s, end, base, ULONG_MAX);

    if (r.overflow)
        return ULONG_MAX;
    return r.negative ? -r.magnitude : r.magnitude;
}

/* Saturating at LONG_MAX + 1 covers both ends: LONG_MIN exactly, LONG_MAX after clamping. */
long strtol(const char *restrict s, char **restrict end, int base)
{
    struct parsed r = parse(s, end, base, (unsigned long)LONG_MAX + 1);

    if (r.negative)
        return r.magnitude > (unsigned long)LONG_MAX ? LONG_MIN : -(long)r.magnitude;
    return r.magnitude > (unsigned long)LONG_MAX ? LONG_MAX : (long)r.magnitude;
}

int atoi(const char *s)
{
    return (int)strtol(s, NULL, 10);
}

static void swap(char *a, char *b, size_t size)
{
    for (; size > 0; size--, a++, b++) {
        char t = *a;

        *a = *b;
        *b = t;
    }
}

static void sift_down(char *base, size_t root, size_t count, size_t size, int (*compare)(const void *, const void *))
{
    for (;;) {
        size_t child = 2 * root + 1;

        if (child >= count)
            return;
        if (child + 1 < count && compare(base + child * size, base + (child + 1) * size) < 0)
            child++;
        if (compare(base + root * size, base + child * size) >= 0)
            return;
        swap(base + root * size, base + child * size, size);
        root = child;
    }
}

/* Heapsort: O(n log n) in the worst case, no recursion, no memory (qsort need not be stable). */
void qsort(void *base, size_t count, size_t size, int (*compare)(const void *, const void *))
{
    char *b = base;

    for (size_t i = count / 2; i-- > 0;)
        sift_down(b, i, count, size, compare);
    for (size_t end = count; end-- > 1;) {
        swap(b, b + end * size, size);
        sift_down(b, 0, end, size, compare);
    }
}

char *getenv(const char *name)
{
    size_t n = strlen(name);

    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}
