/* Memory, process exit and number conversion for twzemu guests (DESIGN.md "Guest ABI": runtime).
 * The heap is per compartment; malloc results are 16-byte aligned; malloc(0) returns a unique pointer. */
#ifndef _TWZ_STDLIB_H
#define _TWZ_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

void *malloc(size_t size) __attribute__((__malloc__, __alloc_size__(1)));
void *calloc(size_t count, size_t size) __attribute__((__malloc__, __alloc_size__(1, 2)));
void *realloc(void *p, size_t size) __attribute__((__alloc_size__(2)));
void free(void *p);

/* exit: atexit handlers (last registered first), then the program's and libraries' fini functions, then
 * stdout and stderr are flushed. _Exit skips all of that; abort flushes and exits with status 134. */
__attribute__((__noreturn__)) void exit(int status);
__attribute__((__noreturn__)) void _Exit(int status);
__attribute__((__noreturn__)) void abort(void);
int atexit(void (*fn)(void));

int abs(int x);
long labs(long x);
int atoi(const char *s);
long strtol(const char *restrict s, char **restrict end, int base);
unsigned long strtoul(const char *restrict s, char **restrict end, int base);
void qsort(void *base, size_t count, size_t size, int (*compare)(const void *, const void *));

/* POSIX declares environ in <unistd.h>, which twzemu does not have. */
extern char **environ;
char *getenv(const char *name);

#endif
