/* printf's formatting core and the printers into a caller's buffer (vsnprintf, snprintf, vsprintf, sprintf).
 *
 * C17 7.21.6.1 for the defined cases; where the standard leaves a choice that programs see, glibc's:
 * "(null)" for a NULL %s when the precision leaves room for it (else nothing), "(nil)" for a NULL %p, %p as
 * %#lx that honours + and space, '0' ignored by %s and %c, flags and width ignored by %%.
 * tests/test_runtime_host.py builds this file for the host and compares it with glibc byte for byte. */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

/* The flag characters, in the order of their bits below. */
static const char flag_chars[] = "-0+ #";
enum { F_MINUS = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16 };

/* l, ll, z, j and t all name 64-bit types on x86-64. */
enum length { L_INT, L_CHAR, L_SHORT, L_LONG };

struct spec {
    unsigned flags;
    long width;
    long prec; /* -1: none */
    enum length length;
    char conv;
};

struct number {
    unsigned long long magnitude;
    char sign; /* '-', '+', ' ' or 0 */
    unsigned base;
    int upper;
    int hex_prefix;
};

struct out {
    struct twz_sink *sink;
    size_t count;
    int failed; /* the output would exceed INT_MAX bytes (7.21.6.1p15), or the format ends inside a conversion */
};

static void emit(struct out *o, const char *s, size_t n)
{
    if (n == 0)
        return;
    o->sink->put(o->sink, s, n);
    o->count += n;
}

static void pad(struct out *o, char c, size_t n)
{
    char chunk[32];

    if (o->count > INT_MAX || n > INT_MAX - o->count) {
        o->failed = 1;
        return;
    }
    memset(chunk, c, sizeof chunk);
    for (; n > sizeof chunk; n -= sizeof chunk)
        emit(o, chunk, sizeof chunk);
    emit(o, chunk, n);
}

static size_t padding(const struct spec *sp, size_t len)
{
    return (size_t)sp->width > len ? (size_t)sp->width - len : 0;
}

static void put_padded(struct out *o, const struct spec *sp, const char *s, size_t n)
{
    size_t fill = padding(sp, n);

    if (!(sp->flags & F_MINUS))
        pad(o, ' ', fill);
    emit(o, s, n);
    if (sp->flags & F_MINUS)
        pad(o, ' ', fill);
}

/* Digits end at `end`; a zero precision prints no digit for zero (7.21.6.1p8). */
static size_t to_digits(char *end, const struct number *n, int prec)
{
    const char *set = n->upper ? "0123456789ABCDEF" : "0123456789abcdef";
    unsigned long long v = n->magnitude;
    size_t count = 0;

    if (v == 0 && prec == 0)
        return 0;
    do {
        *--end = set[v % n->base];
        v /= n->base;
        count++;
    } while (v);
    return count;
}

static void put_number(struct out *o, const struct spec *sp, const struct number *n)
{
    char digits[24]; /* 2^64 has 20 decimal digits */
    char prefix[3];
    size_t np = 0, nd = to_digits(digits + sizeof digits, n, sp->prec);
    size_t zeros = sp->prec > 0 && (size_t)sp->prec > nd ? (size_t)sp->prec - nd : 0;
    size_t fill;

    if (n->sign)
        prefix[np++] = n->sign;
    if (n->hex_prefix) {
        prefix[np++] = '0';
        prefix[np++] = n->upper ? 'X' : 'x';
    }
    fill = padding(sp, np + zeros + nd);
    /* '0' pads between sign and digits, unless '-' is given or a precision is (7.21.6.1p6). */
    if ((sp->flags & (F_ZERO | F_MINUS)) == F_ZERO && sp->prec < 0) {
        zeros += fill;
        fill = 0;
    }
    if (!(sp->flags & F_MINUS))
        pad(o, ' ', fill);
    emit(o, prefix, np);
    pad(o, '0', zeros);
    emit(o, digits + sizeof digits - nd, nd);
    if (sp->flags & F_MINUS)
        pad(o, ' ', fill);
}

static char sign_of(const struct spec *sp, int negative)
{
    if (negative)
        return '-';
    if (sp->flags & F_PLUS)
        return '+';
    return sp->flags & F_SPACE ? ' ' : 0;
}

static long long signed_arg(enum length length, va_list *ap)
{
    switch (length) {
    case L_CHAR:
        return (signed char)va_arg(*ap, int);
    case L_SHORT:
        return (short)va_arg(*ap, int);
    case L_LONG:
        return va_arg(*ap, long long);
    default:
        return va_arg(*ap, int);
    }
}

static unsigned long long unsigned_arg(enum length length, va_list *ap)
{
    switch (length) {
    case L_CHAR:
        return (unsigned char)va_arg(*ap, unsigned);
    case L_SHORT:
        return (unsigned short)va_arg(*ap, unsigned);
    case L_LONG:
        return va_arg(*ap, unsigned long long);
    default:
        return va_arg(*ap, unsigned);
    }
}

static void put_signed(struct out *o, const struct spec *sp, va_list *ap)
{
    long long v = signed_arg(sp->length, ap);
    /* Negate in unsigned arithmetic: -LLONG_MIN overflows long long. */
    struct number n = { v < 0 ? -(unsigned long long)v : (unsigned long long)v, sign_of(sp, v < 0), 10, 0, 0 };

    put_number(o, sp, &n);
}

/* + and space apply to signed conversions only (7.21.6.1p6). */
static void put_unsigned(struct out *o, const struct spec *sp, va_list *ap)
{
    int hex = sp->conv != 'u';
    struct number n = { unsigned_arg(sp->length, ap), 0, hex ? 16 : 10, sp->conv == 'X', 0 };

    n.hex_prefix = hex && (sp->flags & F_ALT) && n.magnitude != 0;
    put_number(o, sp, &n);
}

static void put_pointer(struct out *o, const struct spec *sp, va_list *ap)
{
    uintptr_t p = (uintptr_t)va_arg(*ap, void *);
    struct number n = { p, sign_of(sp, 0), 16, 0, 1 };

    if (p == 0)
        put_padded(o, sp, "(nil)", 5);
    else
        put_number(o, sp, &n);
}

static void put_string(struct out *o, const struct spec *sp, va_list *ap)
{
    const char *s = va_arg(*ap, const char *);

    if (s == NULL)
        s = sp->prec < 0 || sp->prec >= 6 ? "(null)" : "";
    put_padded(o, sp, s, sp->prec < 0 ? strlen(s) : strnlen(s, (size_t)sp->prec));
}

static void put_char(struct out *o, const struct spec *sp, va_list *ap)
{
    char c = (char)va_arg(*ap, int);

    put_padded(o, sp, &c, 1);
}

/* Saturates just above INT_MAX, so that padding to such a width or precision is an overflow. */
static long parse_decimal(const char **p)
{
    long v = 0;

    for (; **p >= '0' && **p <= '9'; (*p)++) {
        v = v * 10 + (**p - '0');
        if (v > INT_MAX)
            v = INT_MAX + 1L;
    }
    return v;
}

static unsigned parse_flags(const char **p)
{
    unsigned flags = 0;

    for (;; (*p)++) {
        const char *at = strchr(flag_chars, **p);

        if (**p == '\0' || at == NULL)
            return flags;
        flags |= 1u << (at - flag_chars);
    }
}

/* A negative * width is the '-' flag and its magnitude (7.21.6.1p5). */
static void parse_width(const char **p, struct spec *sp, va_list *ap)
{
    if (**p != '*') {
        sp->width = parse_decimal(p);
        return;
    }
    (*p)++;
    sp->width = va_arg(*ap, int);
    if (sp->width < 0) {
        sp->flags |= F_MINUS;
        sp->width = -sp->width;
    }
}

/* "." alone is precision 0; a negative * precision is no precision (7.21.6.1p5). */
static void parse_precision(const char **p, struct spec *sp, va_list *ap)
{
    sp->prec = -1;
    if (**p != '.')
        return;
    (*p)++;
    if (**p != '*') {
        sp->prec = parse_decimal(p);
        return;
    }
    (*p)++;
    sp->prec = va_arg(*ap, int);
    if (sp->prec < 0)
        sp->prec = -1;
}

static enum length parse_length(const char **p)
{
    const char *s = *p;

    if ((s[0] == 'h' || s[0] == 'l') && s[1] == s[0]) {
        *p += 2;
        return s[0] == 'h' ? L_CHAR : L_LONG;
    }
    if (s[0] != '\0' && strchr("hlzjt", s[0])) {
        *p += 1;
        return s[0] == 'h' ? L_SHORT : L_LONG;
    }
    return L_INT;
}

static void convert(struct out *o, const struct spec *sp, va_list *ap)
{
    switch (sp->conv) {
    case 'd':
    case 'i':
        put_signed(o, sp, ap);
        break;
    case 'u':
    case 'x':
    case 'X':
        put_unsigned(o, sp, ap);
        break;
    case 'p':
        put_pointer(o, sp, ap);
        break;
    case 's':
        put_string(o, sp, ap);
        break;
    case 'c':
        put_char(o, sp, ap);
        break;
    }
}

/* One conversion starting at the '%'; returns where the format continues. A conversion this printf does not
 * know (%n among them: it writes through an argument) is copied to the output as written; a format that ends
 * inside a conversion fails, as glibc's does. */
static const char *conversion(struct out *o, const char *start, va_list *ap)
{
    const char *p = start + 1;
    struct spec sp;

    sp.flags = parse_flags(&p);
    parse_width(&p, &sp, ap);
    parse_precision(&p, &sp, ap);
    sp.length = parse_length(&p);
    sp.conv = *p;
    if (sp.conv == '\0')
        o->failed = 1;
    else if (sp.conv == '%')
        emit(o, "%", 1);
    else if (strchr("diuxXpsc", sp.conv))
        convert(o, &sp, ap);
    else
        emit(o, start, (size_t)(p - start) + 1);
    return sp.conv == '\0' ? p : p + 1;
}

int __twz_vformat(struct twz_sink *sink, const char *fmt, va_list ap)
{
    struct out o = { sink, 0, 0 };
    va_list args;

    va_copy(args, ap);
    while (*fmt && !o.failed) {
        const char *pct = strchr(fmt, '%');
        size_t literal = pct ? (size_t)(pct - fmt) : strlen(fmt);

        emit(&o, fmt, literal);
        fmt += literal;
        if (*fmt == '%')
            fmt = conversion(&o, fmt, &args);
    }
    va_end(args);
    return o.failed || o.count > INT_MAX ? -1 : (int)o.count;
}

/* The caller's buffer: keeps the first size - 1 bytes and counts the rest (7.21.6.5). */
struct buffer_sink {
    struct twz_sink sink; /* first, so a struct twz_sink * is a struct buffer_sink * */
    char *buf;
    size_t size;
    size_t len;
};

static void buffer_put(struct twz_sink *sink, const char *s, size_t n)
{
    struct buffer_sink *b = (struct buffer_sink *)sink;
    size_t room = b->size ? b->size - 1 - b->len : 0;

    if (n > room)
        n = room;
    if (n == 0)
        return;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

int vsnprintf(char *restrict buf, size_t size, const char *restrict fmt, va_list ap)
{
    struct buffer_sink b = { { buffer_put }, buf, size, 0 };
    int n = __twz_vformat(&b.sink, fmt, ap);

    if (size > 0)
        buf[b.len] = '\0';
    return n;
}

int snprintf(char *restrict buf, size_t size, const char *restrict fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vsprintf(char *restrict buf, const char *restrict fmt, va_list ap)
{
    return vsnprintf(buf, SIZE_MAX, fmt, ap);
}

int sprintf(char *restrict buf, const char *restrict fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsprintf(buf, fmt, ap);
    va_end(ap);
    return n;
}
