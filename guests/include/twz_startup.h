/* How the monitor starts a program (private to the runtime: crt0 and libtwzrt).
 *
 * The monitor enters `_start` with rsp 16-byte aligned, every general register zero except
 * rdi = a pointer to `struct twz_startup` (in the program's stack object, above the initial rsp),
 * and fs = the thread pointer of the first thread (x86-64 TLS variant II: `fs:0` holds the thread pointer
 * itself, `fs:8` the DTV; static TLS blocks lie below it).
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

/* The thread control block at the thread pointer (fs base). */
struct twz_tcb {
    struct twz_tcb *self;   /* fs:0, as the x86-64 TLS ABI requires */
    void **dtv;             /* fs:8: dtv[0] = generation, dtv[m] = address of module m's TLS block */
    void *gate_buffer;      /* this thread's gate buffer: the same address in every compartment */
    long thread_id;
    long caller_compartment; /* inside a gate: the calling compartment (0 = the monitor); -1 otherwise.
                              * Written by the monitor on every crossing, from the crossing itself. */
};

/* `__tls_get_addr` argument for general-dynamic TLS accesses (psABI 3.4): module id and offset. */
struct twz_tls_index {
    unsigned long module;
    unsigned long offset;
};

#endif
