/* A program's start and end on musl, and each compartment's copy of musl made ready.
 *
 * Every compartment has its own libtwzrt (musl and this glue), so each has musl's per-process state of its
 * own: its stdio buffers, its atexit list, its allocator over its own heap. The monitor runs each
 * compartment's initialisers before its first crossing (the program's: __twz_start, below), the runtime's
 * own first; that one, twz_libc_init, gives musl what its start-up would: the environment, the thread
 * descriptor at the thread pointer the monitor set up (TWZ_TCB_SIZE bytes for musl's struct pthread, with
 * the DTV of the static TLS blocks the monitor laid out), and line-buffered stdout, so that the lines several
 * compartments print keep their order. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>

#include "libc.h"
#include "pthread_impl.h"
#include "twz_runtime.h"

_Static_assert(sizeof(struct pthread) <= TWZ_TCB_SIZE, "musl's thread descriptor must fit the monitor's TCB");

extern char **__environ;
hidden void __funcs_on_exit(void);
hidden void __stdio_exit(void);

static char *no_environment[] = {0};
static size_t auxv[] = {AT_PAGESZ, 4096, AT_NULL, 0};

/* The program's finalisers, in the order the monitor put them (twz_startup.h). */
static struct {
    twz_fini_fn *fini;
    unsigned long count;
    unsigned long done;
} program;

__attribute__((constructor)) static void twz_libc_init(int argc, char **argv, char **envp)
{
    (void)argc;
    __environ = envp ? envp : no_environment;
    libc.auxv = auxv;
    libc.page_size = 4096;
    if (argv && argv[0]) {
        __progname = __progname_full = argv[0];
        for (char *p = argv[0]; *p; p++)
            if (*p == '/')
                __progname = p + 1;
    }
    if (__init_tp(__pthread_self()) < 0)
        a_crash();
    setvbuf(stdout, 0, _IOLBF, 0);
}

/* A compartment's end (the program's too: exit() ran these already, and again they do nothing): its atexit
 * handlers, then its stdio buffers. */
__attribute__((destructor)) static void twz_libc_fini(void)
{
    __funcs_on_exit();
    __stdio_exit();
}

/* exit(): musl runs the atexit handlers, then this, then flushes stdio; the monitor has ordered the
 * finalisers of the program's compartment (ours among them). */
hidden void __libc_exit_fini(void)
{
    while (program.done < program.count)
        program.fini[program.done++]();
}

void __twz_start(struct twz_startup *startup, int (*main)(int, char **, char **))
{
    int argc = (int)startup->argc;
    program.fini = startup->fini;
    program.count = startup->fini_count;
    for (unsigned long i = 0; i < startup->init_count; i++)
        startup->init[i](argc, startup->argv, startup->envp);
    exit(main(argc, startup->argv, startup->envp));
}
