/* Thread-local storage for musl: the modules the monitor laid out, and those dlopen added later.
 *
 * The monitor lays out a compartment's static TLS (the first thread's blocks, its DTV, and after its descriptor a
 * table of the modules); __twz_init_tls gives musl that table, so pthread_create lays out a new thread's blocks as
 * the monitor laid out the first's. A library dlopen loads later with TLS is a module after those, with the id the
 * monitor gave it: __twz_add_tls adds it, so a thread created from then on has its block at the offset the monitor
 * chose, and a thread that existed already (created here, or one that began elsewhere) gets its block on its first
 * access, in __tls_get_addr (musl's, which calls __twz_tls_get_new when the thread's DTV lacks the module:
 * twzemu/sdk/musl.py). Only the dynamic TLS models reach a module loaded later: the monitor refuses an
 * initial-exec reference to one. */
#include <stdlib.h>
#include <string.h>

#include "libc.h"
#include "pthread_impl.h"
#include "twz_runtime.h"

#define MAX_MODULES 64 /* TLS_MODULES_MAX, twzemu/linker/tls.py */

static struct tls_module modules[MAX_MODULES];
static volatile int added[MAX_MODULES]; /* module i + 1's entry is written */
static size_t lowest;                   /* how far below the thread pointer the lowest block ends */
static size_t alignment;                /* the largest of the modules' alignments */
/* libc's sizes for the modules 1..count in a new thread's area: its DTV, descriptor and blocks (as musl's). */
static void set_sizes(size_t count)
{
    size_t align = alignment < _Alignof(struct pthread) ? _Alignof(struct pthread) : alignment;
    libc.tls_head = count ? modules : 0;
    libc.tls_cnt = count;
    libc.tls_align = align;
    libc.tls_size = ((count + 1) * sizeof(void *) + sizeof(struct pthread) + lowest + align +
                     _Alignof(struct pthread) - 1) & -_Alignof(struct pthread);
}

static void add(size_t id, const struct twz_tls_module *m)
{
    if (id - 1 >= MAX_MODULES || added[id - 1])
        a_crash();
    modules[id - 1] = (struct tls_module){0, (void *)m->image, m->length, m->size, m->align, m->offset};
    if (m->offset > lowest)
        lowest = m->offset;
    if (m->align > alignment)
        alignment = m->align;
    a_barrier();
    added[id - 1] = 1;
}

/* musl's view of the static TLS the monitor laid out (as its own static start-up or its dynamic linker would
 * make it): __copy_tls then lays out each new thread's blocks at the offsets the linker resolved. */
hidden void __twz_init_tls(const struct twz_tls_modules *table)
{
    if (table->count > MAX_MODULES)
        a_crash();
    for (size_t i = 0; i < table->count; i++) {
        add(i + 1, &table->module[i]);
        if (i)
            modules[i - 1].next = &modules[i];
    }
    lowest = table->static_size;
    if (table->align > alignment)
        alignment = table->align;
    set_sizes(table->count);
}

/* Modules a dlopen loaded: threads created from now on lay out every module up to the first one not added yet
 * (another thread's dlopen may add its module a moment later); the others come on a thread's first access. */
hidden void __twz_add_tls(const struct twz_tls_loaded *loaded)
{
    if (!loaded->count)
        return;
    __inhibit_ptc(); /* pthread_create reads the sizes under __acquire_ptc (musl's lock_ptc.c) */
    for (size_t i = 0; i < loaded->count && i < TWZ_TLS_LOADED_MAX; i++)
        add(loaded->first + i, &loaded->module[i]);
    size_t count = libc.tls_cnt;
    while (count < MAX_MODULES && added[count]) {
        if (count)
            modules[count - 1].next = &modules[count];
        count++;
    }
    set_sizes(count);
    __release_ptc();
}

/* __tls_get_addr for a module this thread's DTV lacks: a DTV long enough, and the module's block, initialised from
 * its image. The thread's old DTV is left as it is (the monitor's, or inside the thread's own area). */
hidden void *__twz_tls_get_new(tls_mod_off_t *v)
{
    pthread_t self = __pthread_self();
    size_t id = v[0];
    if (id - 1 >= MAX_MODULES || !added[id - 1])
        a_crash(); /* no dlopen added this module */
    a_barrier();
    uintptr_t *dtv = self->dtv;
    if (id > dtv[0]) {
        uintptr_t *longer = calloc(id + 1, sizeof *longer);
        if (!longer)
            a_crash();
        memcpy(longer + 1, dtv + 1, dtv[0] * sizeof *dtv);
        longer[0] = id;
        self->dtv = dtv = longer;
    }
    if (!dtv[id]) {
        const struct tls_module *m = &modules[id - 1];
        size_t align = m->align ? m->align : 1;
        unsigned char *block = aligned_alloc(align, (m->size + align - 1) & -align);
        if (!block)
            a_crash();
        memcpy(block, m->image, m->len);
        memset(block + m->len, 0, m->size - m->len);
        dtv[id] = (uintptr_t)block;
    }
    return (void *)(dtv[id] + v[1]);
}
