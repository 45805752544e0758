/* Helpers shared by the host drivers: hex coding of the line protocol with tests/test_runtime_host.py, and
 * the knobs of host_sys.c (the runtime's service calls, played by the host). */
#ifndef TWZ_HOST_DRIVER_H
#define TWZ_HOST_DRIVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern unsigned long host_write_limit;  /* most bytes one WRITE takes; 0: all */
extern int host_write_fails;            /* WRITE returns -1 */
extern unsigned long host_arena_limit;  /* bytes HEAP_GROW may hand out in all */
extern unsigned long host_arena_gap;    /* bytes skipped between growths: non-contiguous heap */
extern unsigned long host_heap_grown;   /* bytes handed out so far */

/* Decodes hex text into a new NUL-terminated buffer; *len gets the byte count. */
static inline unsigned char *unhex(const char *text, size_t *len)
{
    size_t n = strlen(text) / 2;
    unsigned char *out = malloc(n + 1);

    for (size_t i = 0; i < n; i++)
        sscanf(text + 2 * i, "%2hhx", &out[i]);
    out[n] = 0;
    if (len)
        *len = n;
    return out;
}

static inline void print_hex(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

#endif
