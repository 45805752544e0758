/* How the monitor starts a program (private to the runtime: crt0 and libtwzrt).
 *
 * The monitor enters `_start` with rsp 16-byte aligned, every general register zero except
 * rdi = a pointer to `struct twz_startup` (in the program's stack object, above the initial rsp),
 * and fs = the thread pointer of the first thread (x86-64 TLS variant II: static TLS blocks lie below it).
 *
 * crt0 then: runs `init[0..init_count)` in order, each as init(argc, argv, envp) — the monitor has already
 * ordered DT_PREINIT_ARRAY, then per object (depth-first post-order over DT_NEEDED) DT_INIT and DT_INIT_ARRAY;
 * calls main(argc, argv, envp); passes its result to exit(). exit() runs atexit handlers (LIFO), then
 * `fini[0..fini_count)` in order (the monitor has already reversed: per object in reverse init order,
 * DT_FINI_ARRAY reversed then DT_FINI), then the EXIT hypercall. */
#ifndef TWZ_STARTUP_H
#define TWZ_STARTUP_H

typedef void (*twz_init_fn)(int argc, char **argv, char **envp);
typedef void (*twz_fini_fn)(void);

struct twz_startup {
    long argc;
    char **argv;            /* argv[argc] == 0 */
    char **envp;            /* NULL-terminated */
    unsigned long init_count;
    twz_init_fn *init;
    unsigned long fini_count;
    twz_fini_fn *fini;
    long compartment;       /* this compartment's id: 1 = the program's, 0 = the monitor */
};

/* The thread pointer (fs base) points at TWZ_TCB_SIZE bytes the monitor reserves for musl's thread descriptor
 * (struct pthread): fs:0 holds the thread pointer itself (the x86-64 TLS ABI), fs:8 the DTV (dtv[0] = its
 * generation, dtv[m] = the address of module m's static TLS block); musl fills in the rest and may write it.
 * Right after the descriptor, the compartment's TLS modules (struct twz_tls_modules, with pristine copies of their
 * initialised parts), from which the runtime's musl lays out the TLS of the threads it creates; then the DTV.
 * What the monitor keeps per thread lives elsewhere, out of the compartment's reach (below). */
#define TWZ_TCB_SIZE 512

struct twz_tls_module {
    unsigned long image;  /* its initialised part (.tdata): a pristine copy */
    unsigned long length; /* of the image */
    unsigned long size;   /* of the whole block (.tdata and .tbss) */
    unsigned long align;
    unsigned long offset; /* its block lies this many bytes below the thread pointer */
};

struct twz_tls_modules {
    unsigned long count;       /* modules 1..count, in this order */
    unsigned long static_size; /* bytes of static TLS below the thread pointer */
    unsigned long align;       /* the thread pointer's alignment */
    struct twz_tls_module module[];
};

/* What a dlopen loaded that has TLS (TWZ_SYS_DLOPEN): modules first..first+count-1, each with its image in the
 * library's own data, and its offset below the thread pointer of a thread created from now on. */
#define TWZ_TLS_LOADED_MAX 16
struct twz_tls_loaded {
    unsigned long first;
    unsigned long count;
    struct twz_tls_module module[TWZ_TLS_LOADED_MAX];
};

/* TWZ_SYS_DLSYM's answer for a thread-local symbol: its module and offset are in the caller's index. */
#define TWZ_DLSYM_TLS 1

/* TWZ_SYS_DLADDR's answer: the library's base, the nearest symbol's address (0: none), then the library's path and
 * the symbol's name, each NUL-terminated (an empty name: none). */
struct twz_dladdr {
    unsigned long base;
    unsigned long symbol;
    char names[];
};

/* The first thread's gate buffer (twz.h): the same address in every compartment, each its own object. Thread n's
 * (n counted from 0 among the threads alive) is TWZ_GATE_BUFFER + n * 4096; twz_gate_buffer() finds it. */
#define TWZ_GATE_BUFFER 0xffc0001000UL

/* Per thread and compartment, on a page the monitor maps read-only at the same address in every compartment: the
 * first thread's at TWZ_THREAD_INFO, thread n's 4096 * n bytes above. The gs base is the running thread's (the
 * monitor sets it; a compartment cannot move it): %gs:24 is the structure's own address. */
#define TWZ_THREAD_INFO 0xff40001000UL
struct twz_thread_info {
    long thread_id;
    long caller_compartment;   /* inside a gate: the calling compartment (0 = the monitor); -1 otherwise.
                                * Written by the monitor on every crossing, from the crossing itself. */
    unsigned long gate_buffer; /* this thread's gate buffer */
    unsigned long self;        /* this structure's address */
};

/* `__tls_get_addr` argument for general-dynamic TLS accesses (psABI 3.4): module id and offset. */
struct twz_tls_index {
    unsigned long module;
    unsigned long offset;
};

#endif
