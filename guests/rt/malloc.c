/* The compartment's heap: a boundary-tag allocator in the style of dlmalloc.
 *
 * The heap is memory from the HEAP_GROW service call, cut into chunks that tile it. A chunk starts with two
 * words: `prev_size` (the size of the chunk before it, valid only while that one is free: it is its footer)
 * and `head` (this chunk's size, a multiple of 16, | INUSE | PREV_INUSE). The payload starts 16 bytes in, so
 * it is 16-byte aligned, and may run on into the next chunk's `prev_size` while this chunk is in use.
 * Free chunks are never adjacent (free() merges with both neighbours) and are kept in bins: exact sizes below
 * 1 KiB, one bin per power of two above, with a bitmap of the non-empty ones. Each piece of heap ends in a
 * fence: a chunk header of size 0 marked in use, so merging never runs off the end.
 * All state is in `heap`, so that one lock can guard it once there are threads. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "sys.h"

#define INUSE 1ul
#define PREV_INUSE 2ul
#define FLAGS 15ul
#define HEADER 16ul     /* prev_size and head: where a chunk's payload starts */
#define OVERHEAD 8ul    /* the head word; prev_size is part of the previous payload */
#define MIN_CHUNK 32ul  /* a free chunk holds head, two bin links and its footer */
#define FENCE 16ul      /* the header of the fence that ends each piece of heap */
#define GROW_UNIT (64ul * 1024)
#define MAX_REQUEST ((size_t)PTRDIFF_MAX / 2) /* any size past this fails before arithmetic can wrap */

#define SMALL_BINS 64 /* exact bins: sizes 32 .. 1008, index size / 16 */
#define BINS 128      /* then one bin per power of two from 1 KiB */

struct chunk {
    size_t prev_size;
    size_t head;
    struct chunk *next; /* bin links, while free */
    struct chunk *prev;
};

static struct {
    struct chunk *bins[BINS];
    uint64_t nonempty[BINS / 64];
    char *end; /* end of the piece of heap that grew last */
} heap;

static size_t size_of(const struct chunk *c)
{
    return c->head & ~FLAGS;
}

static struct chunk *chunk_at(void *base, size_t offset)
{
    return (struct chunk *)((char *)base + offset);
}

static struct chunk *chunk_below(void *base, size_t offset)
{
    return (struct chunk *)((char *)base - offset);
}

static unsigned bin_index(size_t size)
{
    if (size < SMALL_BINS * 16)
        return (unsigned)(size / 16);
    return SMALL_BINS + (unsigned)(63 - __builtin_clzl(size)) - 10;
}

static void bin(struct chunk *c)
{
    unsigned i = bin_index(size_of(c));

    c->prev = NULL;
    c->next = heap.bins[i];
    if (c->next)
        c->next->prev = c;
    heap.bins[i] = c;
    heap.nonempty[i / 64] |= 1ull << (i % 64);
}

static void unbin(struct chunk *c)
{
    unsigned i = bin_index(size_of(c));

    if (c->prev)
        c->prev->next = c->next;
    else
        heap.bins[i] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (heap.bins[i] == NULL)
        heap.nonempty[i / 64] &= ~(1ull << (i % 64));
}

/* The first non-empty bin at or above `i`, or -1. */
static int next_bin(unsigned i)
{
    for (; i < BINS; i = (i / 64 + 1) * 64) {
        uint64_t bits = heap.nonempty[i / 64] & (~0ull << (i % 64));

        if (bits)
            return (int)(i / 64 * 64 + (unsigned)__builtin_ctzll(bits));
    }
    return -1;
}

/* Marks `c` free with its current size, merged with free neighbours, and bins the result. */
static void release(struct chunk *c)
{
    size_t size = size_of(c);
    struct chunk *next = chunk_at(c, size);

    if (!(next->head & INUSE)) {
        unbin(next);
        size += size_of(next);
    }
    if (!(c->head & PREV_INUSE)) {
        c = chunk_below(c, c->prev_size);
        unbin(c);
        size += size_of(c);
    }
    c->head = size | PREV_INUSE; /* free chunks are never adjacent, so the one before is in use */
    next = chunk_at(c, size);
    next->prev_size = size;
    next->head &= ~PREV_INUSE;
    bin(c);
}

/* Gives the tail of in-use chunk `c` beyond `size` back to the heap, when it can hold a chunk. */
static void trim(struct chunk *c, size_t size)
{
    size_t old = size_of(c);
    struct chunk *rest;

    if (old - size < MIN_CHUNK)
        return;
    c->head = size | (c->head & FLAGS);
    rest = chunk_at(c, size);
    rest->head = (old - size) | PREV_INUSE;
    release(rest);
}

/* First fit in the bin of `size` (sizes there vary in the large bins), else any chunk of a larger bin. */
static struct chunk *take(size_t size)
{
    unsigned i = bin_index(size);
    struct chunk *c;
    int larger;

    for (c = heap.bins[i]; c; c = c->next)
        if (size_of(c) >= size)
            break;
    if (c == NULL && (larger = next_bin(i + 1)) >= 0)
        c = heap.bins[larger];
    if (c == NULL)
        return NULL;
    unbin(c);
    c->head |= INUSE;
    chunk_at(c, size_of(c))->head |= PREV_INUSE;
    trim(c, size);
    return c;
}

/* Adds a free chunk of at least `size` bytes to the heap. Growth is contiguous by contract, so the old fence
 * becomes the new chunk's header and the last free chunk grows; memory elsewhere starts a piece of its own. */
static int grow(size_t size)
{
    size_t bytes = (size + FENCE + GROW_UNIT - 1) & ~(GROW_UNIT - 1);
    char *more = twz_sys_heap_grow(bytes);
    struct chunk *c;

    if (more == NULL)
        return 0;
    if (more == heap.end) {
        c = chunk_below(more, FENCE);
        c->head = bytes | (c->head & PREV_INUSE);
    } else {
        c = chunk_at(more, 0);
        c->head = (bytes - FENCE) | PREV_INUSE;
    }
    heap.end = more + bytes;
    chunk_below(heap.end, FENCE)->head = INUSE;
    release(c);
    return 1;
}

/* The chunk size that holds `n` payload bytes, or 0 if no chunk can. */
static size_t chunk_size(size_t n)
{
    size_t size = (n + OVERHEAD + 15) & ~15ul;

    if (n > MAX_REQUEST)
        return 0;
    return size < MIN_CHUNK ? MIN_CHUNK : size;
}

static void *payload(struct chunk *c)
{
    return (char *)c + HEADER;
}

static struct chunk *chunk_of(void *p)
{
    return chunk_below(p, HEADER);
}

void *malloc(size_t n)
{
    size_t size = chunk_size(n);
    struct chunk *c;

    if (size == 0)
        return NULL;
    c = take(size);
    if (c == NULL && grow(size))
        c = take(size);
    return c ? payload(c) : NULL;
}

void *calloc(size_t count, size_t size)
{
    size_t n;
    void *p;

    if (__builtin_mul_overflow(count, size, &n))
        return NULL;
    p = malloc(n);
    if (p)
        memset(p, 0, n); /* reused chunks are not zero */
    return p;
}

/* A chunk not in use was freed already, or never came from malloc: stop before the bins are corrupted. */
static void bad_free(void)
{
    static const char message[] = "free(): double free or invalid pointer\n";

    twz_sys_write(2, message, sizeof message - 1);
    abort();
}

void free(void *p)
{
    struct chunk *c;

    if (p == NULL)
        return;
    c = chunk_of(p);
    if (!(c->head & INUSE))
        bad_free();
    c->head &= ~INUSE;
    release(c);
}

/* Shrinks in place; grows by moving. realloc(p, 0) keeps a minimal block, as malloc(0) returns one. */
void *realloc(void *p, size_t n)
{
    size_t size = chunk_size(n);
    struct chunk *c;
    void *moved;

    if (p == NULL)
        return malloc(n);
    if (size == 0)
        return NULL;
    c = chunk_of(p);
    if (size_of(c) >= size) {
        trim(c, size);
        return p;
    }
    moved = malloc(n);
    if (moved == NULL)
        return NULL;
    memcpy(moved, p, size_of(c) - OVERHEAD);
    free(p);
    return moved;
}
