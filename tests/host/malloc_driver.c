/* Driver for guests/rt/malloc.c (renamed rt_*) on the host arena of host_sys.c. Each stdin line is a command;
 * after each, every live block is checked: 16-byte aligned, inside the arena, disjoint from every other,
 * and still holding the pattern written into it. A failed check prints "FAIL ..." and exits with 1.
 *
 *   m <slot> <size>          malloc (after freeing what the slot held) -> ok | null
 *   c <slot> <count> <size>  calloc, likewise (the memory must be zero) -> ok | null
 *   r <slot> <size>          realloc (the old contents must survive, up to the smaller size) -> ok | null
 *   f <slot>                 free (free(NULL) when the slot is empty) -> ok
 *   d <slot>                 free, but keep the slot: the next f frees the block again -> ok
 *   F                        free every block -> ok
 *   G                        -> grown <bytes of heap handed out so far>
 * argv: [arena limit in bytes] [gap between growths in bytes] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define SLOTS 64

void *rt_malloc(size_t n);
void *rt_calloc(size_t count, size_t size);
void *rt_realloc(void *p, size_t n);
void rt_free(void *p);
int host_arena_contains(const void *p, size_t n);

struct block {
    unsigned char *p;
    size_t size;
    unsigned tag;
};

static struct block slots[SLOTS];
static unsigned next_tag = 1;

static void fail(const char *what, int slot)
{
    printf("FAIL %s (slot %d)\n", what, slot);
    exit(1);
}

static void fill(struct block *b)
{
    b->tag = next_tag++;
    for (size_t j = 0; j < b->size; j++)
        b->p[j] = (unsigned char)(b->tag + j);
}

static int holds(const struct block *b, size_t n, unsigned tag)
{
    for (size_t j = 0; j < n; j++)
        if (b->p[j] != (unsigned char)(tag + j))
            return 0;
    return 1;
}

static void check_block(int i)
{
    const struct block *b = &slots[i];

    if ((uintptr_t)b->p % 16 != 0)
        fail("misaligned block", i);
    if (!host_arena_contains(b->p, b->size))
        fail("block outside the heap arena", i);
    if (!holds(b, b->size, b->tag))
        fail("block contents changed", i);
    for (int k = i + 1; k < SLOTS; k++) {
        const struct block *o = &slots[k];
        /* A zero-sized block still owns its address: malloc(0) results are unique. */
        size_t bn = b->size ? b->size : 1, on = o->size ? o->size : 1;

        if (o->p && b->p < o->p + on && o->p < b->p + bn)
            fail("blocks overlap", i);
    }
}

static void check_all(void)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p)
            check_block(i);
}

static int allocated(struct block *b, void *p, size_t size)
{
    if (p == NULL)
        return 0;
    b->p = p;
    b->size = size;
    fill(b);
    return 1;
}

static int do_calloc(struct block *b, size_t count, size_t size, int slot)
{
    unsigned char *p = rt_calloc(count, size);

    for (size_t j = 0; p && j < count * size; j++)
        if (p[j] != 0)
            fail("calloc memory not zeroed", slot);
    return allocated(b, p, count * size);
}

static int do_realloc(struct block *b, size_t size, int slot)
{
    unsigned char *p = rt_realloc(b->p, size);
    struct block moved = { p, b->size < size ? b->size : size, b->tag };

    if (p && b->p && !holds(&moved, moved.size, b->tag))
        fail("realloc lost contents", slot);
    return p == NULL ? 0 : allocated(b, p, size);
}

static void free_all(void)
{
    for (int i = 0; i < SLOTS; i++) {
        rt_free(slots[i].p);
        slots[i].p = NULL;
    }
}

static int run(char op, int slot, unsigned long a, unsigned long b)
{
    struct block *s = &slots[slot];

    if (op == 'm' || op == 'c') { /* a slot holds one block: the old one goes first */
        rt_free(s->p);
        s->p = NULL;
    }
    switch (op) {
    case 'm':
        return allocated(s, rt_malloc(a), a);
    case 'c':
        return do_calloc(s, a, b, slot);
    case 'r':
        return do_realloc(s, a, slot);
    case 'f':
        rt_free(s->p);
        s->p = NULL;
        return 1;
    case 'd':
        rt_free(s->p);
        return 1;
    case 'F':
        free_all();
        return 1;
    }
    fail("unknown command", slot);
    return 0;
}

int main(int argc, char **argv)
{
    char line[256];

    if (argc > 1)
        host_arena_limit = strtoul(argv[1], NULL, 0);
    if (argc > 2)
        host_arena_gap = strtoul(argv[2], NULL, 0);
    while (fgets(line, sizeof line, stdin)) {
        char op = 0;
        int slot = 0;
        unsigned long a = 0, b = 0;

        sscanf(line, "%c %d %lu %lu", &op, &slot, &a, &b);
        if (op == 'G') {
            printf("grown %lu\n", host_heap_grown);
            continue;
        }
        if (slot < 0 || slot >= SLOTS)
            fail("bad slot", slot);
        puts(run(op, slot, a, b) ? "ok" : "null");
        if (op != 'd')
            check_all();
    }
    return 0;
}
