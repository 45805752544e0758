/* The runtime's private hypercall ABI to the twzemu monitor (not for programs: use <stdio.h>, <stdlib.h>).
 * `syscall` with the number in rax and arguments in rdi, rsi, rdx, r10, r8, r9; the result in rax;
 * rcx and r11 are clobbered, as on Linux. Numbers: twzemu/monitor/hypercalls.py (Hypercall). */
#ifndef TWZ_HYPERCALL_H
#define TWZ_HYPERCALL_H

enum twz_hypercall {
    TWZ_HC_EXIT = 1,   /* (status) -> does not return */
    TWZ_HC_WRITE = 2,  /* (fd, buf, len) -> bytes written or negative error */
    TWZ_HC_NOP = 3,    /* () -> 0; the cost of a round trip */
    TWZ_HC_HEAP_GROW = 4, /* (bytes) -> address of `bytes` more zeroed heap for the calling compartment
                           * (16-byte aligned, contiguous with the previous growth) or 0 when exhausted */
    TWZ_HC_COMPARTMENT_INFO = 5, /* (what) -> what 0: the calling compartment's id; what 1: the address of its
                                  * gate buffer, into which its name was written (NUL-terminated) */
    TWZ_HC_SYSCALL = 6, /* (n, a, b, c, d, e) -> a Linux system call served for the calling compartment */
    /* <twz/object.h> (twzemu/monitor/objects.py); each -errno on failure */
    TWZ_HC_OBJECT_CREATE = 7, /* (lifetime, struct twz_objid *out) -> 0 */
    TWZ_HC_OBJECT_MAP = 8,    /* (const struct twz_objid *, prot) -> the object's base address */
    TWZ_HC_OBJECT_UNMAP = 9,  /* (base) -> 0 */
    TWZ_HC_PTR_STORE = 10,    /* (field, target) -> 0: the invariant pointer to target written at field */
    TWZ_HC_PTR_LOAD = 11,     /* (field) -> the address the invariant pointer at field names */
    TWZ_HC_NAME_PUT = 12,     /* (name, const struct twz_objid *) -> 0 */
    TWZ_HC_NAME_GET = 13,     /* (name, struct twz_objid *out) -> 0 */
    TWZ_HC_NAME_REMOVE = 14,  /* (name) -> 0 */
    TWZ_HC_NAME_LIST = 15,    /* (buffer, size) -> the bytes the names take, each NUL-terminated */
};

/* System calls of twzemu's own, above Linux's numbers (TWZ_HC_SYSCALL's n): loading libraries at run time, for
 * <dlfcn.h> (twzemu/sdk/rt/dl.c). A failure is -errno, with its reason in the caller's gate buffer. */
enum twz_runtime_syscall {
    /* (path, table, capacity, modules, module capacity | mode << 32) -> a handle; table[0] initialisers follow it,
     * to run; modules (struct twz_tls_loaded) the TLS modules of the libraries loaded now; mode dlopen's (its
     * RTLD_GLOBAL and RTLD_NOLOAD); 0: RTLD_NOLOAD, and the library is not loaded */
    TWZ_SYS_DLOPEN = 0x7d00,
    /* (handle, name, index, caller) -> the symbol's address (0: the caller's global scope; RTLD_NEXT: what follows
     * the library holding caller); or TWZ_DLSYM_TLS, with a thread-local symbol's module and offset in index
     * (tls_mod_off_t[2], for __tls_get_addr) */
    TWZ_SYS_DLSYM = 0x7d01,
    TWZ_SYS_DLCLOSE = 0x7d02, /* (handle, table, capacity, at_exit) -> 0; table[0] finalisers follow, to run */
    TWZ_SYS_DLREADY = 0x7d03, /* (handle) -> 0: its initialisers have run (another thread's dlopen waited) */
    /* (address, out, capacity) -> 1, with struct twz_dladdr in out (capacity bytes), or 0: address lies in no
     * library of the caller's compartment */
    TWZ_SYS_DLADDR = 0x7d04,
};

static inline long twz_hypercall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static inline long twz_hypercall1(long nr, long a) { return twz_hypercall3(nr, a, 0, 0); }
static inline long twz_hypercall0(long nr) { return twz_hypercall3(nr, 0, 0, 0); }

#endif
