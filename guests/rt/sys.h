/* The runtime's service calls to the monitor. Every hypercall the runtime makes is here, so that moving them
 * to monitor gates (DESIGN.md "Guest ABI": once compartments exist, `syscall` is accepted only from
 * compartment 0's gate code) changes this file alone.
 *
 * Built with -DTWZ_HOST_TEST (tests/host/), the calls are plain functions that the host test harness
 * provides, so the formatting core and the allocator run on the host against glibc. */
#ifndef TWZ_RT_SYS_H
#define TWZ_RT_SYS_H

#ifdef TWZ_HOST_TEST

long twz_sys_write(int fd, const void *buf, unsigned long len);
void *twz_sys_heap_grow(unsigned long bytes);
__attribute__((noreturn)) void twz_sys_exit(int status);

#else

#include "twz_hypercall.h"

static inline long twz_sys_write(int fd, const void *buf, unsigned long len)
{
    return twz_hypercall3(TWZ_HC_WRITE, fd, (long)buf, (long)len);
}

/* `bytes` more zeroed memory, 16-byte aligned and contiguous with the previous growth; NULL when exhausted. */
static inline void *twz_sys_heap_grow(unsigned long bytes)
{
    return (void *)twz_hypercall1(TWZ_HC_HEAP_GROW, (long)bytes);
}

__attribute__((noreturn)) static inline void twz_sys_exit(int status)
{
    twz_hypercall1(TWZ_HC_EXIT, status);
    __builtin_trap(); /* a monitor that returns from EXIT is a bug: stop with #UD rather than run on */
}

#endif
#endif
