/* The runtime's service calls (guests/rt/sys.h, built with -DTWZ_HOST_TEST) played by the host: WRITE is
 * logged to stdout as "write <fd> <hex>", EXIT as "exit <status>" (and ends the process with that status),
 * HEAP_GROW hands out a static arena under the contract the monitor keeps (zeroed, 16-byte aligned,
 * contiguous) unless a gap is asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "driver.h"

#define ARENA_MAX (64ul << 20)
#define GROW_UNIT (64ul << 10)

unsigned long host_write_limit;
int host_write_fails;
unsigned long host_arena_limit = ARENA_MAX;
unsigned long host_arena_gap;
unsigned long host_heap_grown;

static unsigned char arena[ARENA_MAX] __attribute__((aligned(4096)));
static unsigned long arena_used;

long twz_sys_write(int fd, const void *buf, unsigned long len)
{
    if (host_write_fails)
        return -1;
    if (host_write_limit && len > host_write_limit)
        len = host_write_limit;
    printf("write %d ", fd);
    print_hex(buf, len);
    printf("\n");
    return (long)len;
}

void twz_sys_exit(int status)
{
    printf("exit %d\n", status);
    fflush(stdout);
    _exit(status & 0xff);
}

/* The allocator promised to grow in whole units (a growth per allocation would be a hypercall each). */
void *twz_sys_heap_grow(unsigned long bytes)
{
    unsigned long start = arena_used + (arena_used ? host_arena_gap : 0);

    if (bytes % GROW_UNIT != 0) {
        printf("FAIL heap grown by %lu bytes, not a multiple of %lu\n", bytes, GROW_UNIT);
        exit(3);
    }
    if (bytes > host_arena_limit - host_heap_grown || start + bytes > ARENA_MAX)
        return NULL;
    arena_used = start + bytes;
    host_heap_grown += bytes;
    return arena + start;
}

int host_arena_contains(const void *p, size_t n)
{
    const unsigned char *b = p;

    return b >= arena && b + n <= arena + arena_used;
}
