/* Formatted output for twzemu guests (DESIGN.md "Guest ABI": runtime). Output only: there is no input
 * stream. stdout is line-buffered, stderr is flushed at the end of every call; exit() flushes both.
 * printf supports flags - 0 + space #, width and precision (numbers or *), conversions d i u x X p s c %,
 * and length modifiers hh h l ll z j t; %p prints like glibc ("0x" + hex, "(nil)" for NULL). */
#ifndef _TWZ_STDIO_H
#define _TWZ_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#define EOF (-1)
#define BUFSIZ 1024

typedef struct twz_file FILE;

extern FILE *stdout;
extern FILE *stderr;

#define _TWZ_PRINTF(f, a) __attribute__((__format__(__printf__, f, a)))

int printf(const char *restrict fmt, ...) _TWZ_PRINTF(1, 2);
int fprintf(FILE *restrict f, const char *restrict fmt, ...) _TWZ_PRINTF(2, 3);
int sprintf(char *restrict buf, const char *restrict fmt, ...) _TWZ_PRINTF(2, 3);
int snprintf(char *restrict buf, size_t size, const char *restrict fmt, ...) _TWZ_PRINTF(3, 4);
int vprintf(const char *restrict fmt, va_list ap) _TWZ_PRINTF(1, 0);
int vfprintf(FILE *restrict f, const char *restrict fmt, va_list ap) _TWZ_PRINTF(2, 0);
int vsprintf(char *restrict buf, const char *restrict fmt, va_list ap) _TWZ_PRINTF(2, 0);
int vsnprintf(char *restrict buf, size_t size, const char *restrict fmt, va_list ap) _TWZ_PRINTF(3, 0);

int fputc(int c, FILE *f);
int putc(int c, FILE *f);
int putchar(int c);
int fputs(const char *restrict s, FILE *restrict f);
int puts(const char *s);
size_t fwrite(const void *restrict p, size_t size, size_t count, FILE *restrict f);
int fflush(FILE *f); /* NULL flushes every stream */

#endif
