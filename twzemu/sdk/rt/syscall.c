/* __twz_syscall: every system call musl makes (twzemu/sdk/musl.py routes them all here), in the calling
 * compartment. What the compartment can do alone is done here: anonymous memory in its heap slot, the signal
 * table, the thread's and the process's ids. Everything else crosses into the monitor through one monitor gate,
 * __twz_monitor_syscall, which serves the compartment the crossing came from, reading and writing its buffers
 * through that compartment's own page tables: a compartment's libc never does more than its context allows. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "lock.h"
#include "pthread_impl.h"
#include "twz_runtime.h"

#define PAGE_BYTES 4096UL

long __twz_syscall(long n, long a, long b, long c, long d, long e, long f);

/* Anonymous memory comes from the compartment's heap object, whose pages are backed (zeroed) on first touch:
 * the monitor hands it out from the bottom up in whole pages, so every mapping is page-aligned. Unmapped ranges
 * are kept (up to FREED of them) and handed out again, cleared: musl's allocator maps and unmaps all the time,
 * and fresh memory costs a crossing into the monitor and a fault per page. Fresh memory is taken GROW_BYTES at
 * least at a time, the rest kept as if unmapped: musl maps a page or two at a time, and each crossing also
 * switches page tables twice, which empties the emulator's TLB. brk never grows (musl's allocator then maps
 * instead). Threads share the ranges kept: a lock guards them (two threads once got the same range). */
#define FREED 512
#define GROW_BYTES (64 * 1024UL)

static struct {
    unsigned long start, length;
} freed[FREED];
static int freed_count;
static volatile int freed_lock[1];

static long reuse(unsigned long length)
{
    for (int i = 0; i < freed_count; i++) {
        if (freed[i].length < length)
            continue;
        unsigned long start = freed[i].start;
        freed[i].start += length;
        freed[i].length -= length;
        if (!freed[i].length)
            freed[i] = freed[--freed_count];
        memset((void *)start, 0, length);
        return (long)start;
    }
    return 0;
}

/* Keeps [start, start + length) for reuse, joined to a neighbour (musl unmaps groups it mapped together). */
static void keep(unsigned long start, unsigned long length)
{
    for (int i = 0; i < freed_count; i++) {
        if (freed[i].start + freed[i].length == start) {
            freed[i].length += length;
            return;
        }
        if (start + length == freed[i].start) {
            freed[i].start = start;
            freed[i].length += length;
            return;
        }
    }
    if (length && freed_count < FREED)
        freed[freed_count++] = (typeof(freed[0])){start, length};
}

static long map_locked(unsigned long length)
{
    long start = reuse(length);
    if (start)
        return start;
    unsigned long grow = length < GROW_BYTES ? GROW_BYTES : length;
    char *fresh = __twz_monitor_heap_grow(grow);
    if (!fresh && grow > length)
        fresh = __twz_monitor_heap_grow(grow = length);
    if (!fresh)
        return -ENOMEM;
    keep((unsigned long)fresh + length, grow - length);
    return (long)fresh;
}

static long map_anonymous(unsigned long length, long flags)
{
    if (flags & MAP_FIXED)
        return -EINVAL;
    length = (length + PAGE_BYTES - 1) & ~(PAGE_BYTES - 1);
    if (!length)
        return -EINVAL;
    LOCK(freed_lock);
    long start = map_locked(length);
    UNLOCK(freed_lock);
    return start;
}

static long do_munmap(unsigned long start, unsigned long length);

/* A file is mapped as a private copy: its bytes from `offset` read into fresh memory (zero past its end). A shared
 * writable mapping is refused (ENODEV): its writes would never reach the file. */
static long do_mmap(unsigned long length, long prot, long flags, long fd, long offset)
{
    if (flags & MAP_ANONYMOUS)
        return map_anonymous(length, flags);
    if ((flags & MAP_SHARED && prot & PROT_WRITE) || offset & (PAGE_BYTES - 1))
        return offset & (PAGE_BYTES - 1) ? -EINVAL : -ENODEV;
    long start = map_anonymous(length, flags);
    if (start < 0)
        return start;
    for (unsigned long done = 0; done < length;) {
        long got = __twz_monitor_syscall(SYS_pread64, fd, start + done, length - done, offset + done, 0);
        if (got < 0) {
            do_munmap(start, length);
            return got;
        }
        if (!got)
            break;
        done += got;
    }
    return start;
}

static long do_munmap(unsigned long start, unsigned long length)
{
    length = (length + PAGE_BYTES - 1) & ~(PAGE_BYTES - 1);
    if (start & (PAGE_BYTES - 1))
        return -EINVAL;
    LOCK(freed_lock);
    keep(start, length);
    UNLOCK(freed_lock);
    return 0;
}

/* The standard streams have a monitor service of their own, files go through the system-call service; so does a
 * standard descriptor once closed or replaced (dup2), which the service then resolves as any other. */
static unsigned replaced; /* bit fd: descriptor fd (0-2) no longer the standard stream it began as */

/* A write to a pipe nobody reads any more is EPIPE and raises SIGPIPE (its default ends the program: 141). */
static long do_write(long fd, const void *buffer, unsigned long length)
{
    if ((fd == 1 || fd == 2) && !(replaced >> fd & 1))
        return __twz_monitor_write(fd, buffer, length);
    long written = __twz_monitor_syscall(SYS_write, fd, (long)buffer, (long)length, 0, 0);
    if (written == -EPIPE)
        __twz_raise(SIGPIPE, 0);
    return written;
}

static long do_read(long fd, const void *buffer, unsigned long length)
{
    return __twz_monitor_syscall(SYS_read, fd, (long)buffer, (long)length, 0, 0);
}

/* readv and writev: one transfer per buffer, until one comes up short. */
static long each_buffer(long (*transfer)(long, const void *, unsigned long), long fd, const struct iovec *iov,
                        long count)
{
    long total = 0;
    for (long i = 0; i < count; i++) {
        if (!iov[i].iov_len)
            continue;
        long done = transfer(fd, iov[i].iov_base, iov[i].iov_len);
        if (done < 0)
            return total ? total : done;
        total += done;
        if ((size_t)done < iov[i].iov_len)
            break;
    }
    return total;
}

long __twz_syscall(long n, long a, long b, long c, long d, long e, long f)
{
    switch (n) {
    case SYS_write:
        return do_write(a, (const void *)b, (unsigned long)c);
    case SYS_writev:
        return each_buffer(do_write, a, (const struct iovec *)b, c);
    case SYS_readv:
        return each_buffer(do_read, a, (const struct iovec *)b, c);
    case SYS_brk:
        return 0;
    case SYS_mmap:
        return do_mmap((unsigned long)b, c, d, e, f);
    case SYS_munmap:
        return do_munmap((unsigned long)a, (unsigned long)b);
    case SYS_madvise:
    case SYS_mprotect:
        return 0;
    case SYS_mremap: /* never in place: musl's realloc then allocates and copies; a probe asks the monitor */
        if (d & MREMAP_MAYMOVE)
            return -ENOMEM;
        return __twz_monitor_syscall(n, a, b, c, d, e);
    case SYS_exit: /* this thread ends (the monitor ends the program with its last thread); with its result, for
                    * its home compartment's pthread_exit if it ends inside a gate */
        for (;;)
            __twz_monitor_syscall(n, a, (long)__pthread_self()->result, 0, 0, 0);
    case SYS_exit_group:
        __twz_monitor_exit(a);
    case SYS_gettid:
        return __twz_thread_info()->thread_id;
    case SYS_getpid:
        return TWZ_PROCESS_ID;
    case SYS_getppid:
        return 0;
    case SYS_getuid:
    case SYS_geteuid:
    case SYS_getgid:
    case SYS_getegid:
        return 0;
    case SYS_rt_sigaction:
        return __twz_sigaction(a, (const struct k_sigaction *)b, (struct k_sigaction *)c);
    case SYS_rt_sigprocmask:
        return __twz_sigprocmask(a, (const unsigned long *)b, (unsigned long *)c);
    case SYS_rt_sigpending:
        return __twz_sigpending((unsigned long *)a);
    case SYS_rt_sigsuspend:
        return __twz_wait_for_signal((const unsigned long *)a);
    case SYS_pause:
        return __twz_wait_for_signal(0);
    case SYS_setitimer:
        return __twz_itimer(a, (const struct itimerval *)b, (struct itimerval *)c);
    case SYS_getitimer:
        return __twz_itimer(a, 0, (struct itimerval *)b);
    case SYS_nanosleep:
        return __twz_sleep(CLOCK_MONOTONIC, 0, (const struct timespec *)a, (struct timespec *)b);
    case SYS_clock_nanosleep:
        return __twz_sleep(a, b, (const struct timespec *)c, (struct timespec *)d);
    case SYS_kill: /* this process (the compartment, as far as it can tell) or its group: itself */
        if (a > 0 && a != TWZ_PROCESS_ID)
            return -ESRCH;
        return __twz_raise(b, 1);
    case SYS_tkill: /* this thread: its own signal; another: only whether it lives (signal 0) */
    case SYS_tgkill:
        if (n == SYS_tgkill && a != TWZ_PROCESS_ID)
            return -ESRCH;
        if (n == SYS_tgkill)
            a = b, b = c;
        if (a == __twz_thread_info()->thread_id)
            return __twz_raise(b, 0);
        return __twz_monitor_syscall(SYS_tkill, a, b, 0, 0, 0);
    case SYS_close:
        if ((unsigned long)a < 3)
            replaced |= 1u << a;
        return __twz_monitor_syscall(n, a, b, c, d, e);
    case SYS_dup2:
    case SYS_dup3:
        if ((unsigned long)b < 3 && a != b)
            replaced |= 1u << b;
        return __twz_monitor_syscall(n, a, b, c, d, e);
    default:
        return __twz_monitor_syscall(n, a, b, c, d, e);
    }
}
