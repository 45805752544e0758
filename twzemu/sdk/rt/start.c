/* A program's start and end on musl, and each compartment's copy of musl made ready.
 *
 * Every compartment has its own libtwzrt (musl and this glue), so each has musl's per-process state of its
 * own: its stdio buffers, its atexit list, its allocator over its own heap. The monitor runs each
 * compartment's initialisers before its first crossing (the program's: __twz_start, below), the runtime's
 * own first; that one, twz_libc_init, gives musl what its start-up would: the environment, the thread
 * descriptor at the thread pointer the monitor set up (TWZ_TCB_SIZE bytes for musl's struct pthread, with
 * the DTV of the static TLS blocks the monitor laid out), the compartment's TLS modules (for the threads musl
 * creates here: pthread_create lays out their TLS as the monitor laid out the first's), and line-buffered stdout,
 * so that the lines several compartments print keep their order.
 *
 * A thread created in another compartment that crosses into this one finds a thread descriptor here that the
 * monitor laid out for it; before its first crossing the monitor calls __twz_thread_begin on it, which does for
 * that descriptor what musl does for a thread it creates, and makes this copy of musl lock what threads share. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libc.h"
#include "pthread_impl.h"
#include "stdio_impl.h"
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

static void be_threaded(pthread_t self);
static void lock_file(FILE *f);

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
    __twz_init_tls((const struct twz_tls_modules *)((char *)__pthread_self() + TWZ_TCB_SIZE));
    setvbuf(stdout, 0, _IOLBF, 0);
    be_threaded(__pthread_self());
}

/* What musl's pthread_create does the first time, done from the start: threads the compartment did not create
 * enter it whenever a gate lets them, so its allocator, stdio and other shared state lock from the first. */
static void be_threaded(pthread_t self)
{
    for (FILE *f = *__ofl_lock(); f; f = f->next)
        lock_file(f);
    __ofl_unlock();
    lock_file(__stdin_used);
    lock_file(__stdout_used);
    lock_file(__stderr_used);
    self->tsd = (void **)__pthread_tsd_main;
    libc.threaded = 1;
    libc.need_locks = 1;
}

static void lock_file(FILE *f)
{
    if (f && f->lock < 0)
        f->lock = 0;
}

void __twz_thread_begin(void)
{
    pthread_t self = __pthread_self();
    libc.need_locks = 1;
    self->self = self;
    self->detach_state = DT_JOINABLE;
    self->tid = (int)__twz_thread_info()->thread_id;
    self->locale = &libc.global_locale;
    self->robust_list.head = &self->robust_list.head;
    self->sysinfo = __sysinfo;
    /* Its own list of threads here, with a stand-in for the others: pthread_exit here ends only this thread (a thread
     * alone in its list would end the program), and unlinks it from the stand-in. */
    struct pthread *others = calloc(1, sizeof *others);
    self->tsd = calloc(1, __pthread_tsd_size ? __pthread_tsd_size : sizeof(void *));
    if (!others || !self->tsd)
        a_crash();
    others->self = others;
    others->next = others->prev = self;
    self->next = self->prev = others;
    /* musl's pthread_exit keeps the thread-list lock until the thread is gone: the monitor releases this
     * compartment's when the thread ends here */
    __syscall(SYS_set_tid_address, &__thread_list_lock);
    libc.threads_minus_1++;
}

/* A compartment's end: its atexit handlers, then its stdio buffers (unless exit() runs them: the program's). */
static int exiting;

__attribute__((destructor)) static void twz_libc_fini(void)
{
    if (exiting)
        return;
    exiting = 1;
    __funcs_on_exit();
    __stdio_exit();
}

/* exit(): musl runs the atexit handlers, then this, then flushes stdio; the monitor has ordered the
 * finalisers of the program's compartment (ours among them). musl's exit keeps its locks (they are taken once
 * threads exist): nothing of exit runs twice. */
hidden void __libc_exit_fini(void)
{
    exiting = 1;
    while (program.done < program.count)
        program.fini[program.done++]();
}

void __twz_start(struct twz_startup *startup, int (*main)(int, char **, char **))
{
    /* The auxiliary vector at the top of the first thread's stack, as Linux puts it: musl's pthread_getattr_np finds
     * that stack by walking down from it. */
    size_t stack_auxv[sizeof auxv / sizeof auxv[0]];
    memcpy(stack_auxv, auxv, sizeof auxv);
    libc.auxv = stack_auxv;
    int argc = (int)startup->argc;
    program.fini = startup->fini;
    program.count = startup->fini_count;
    for (unsigned long i = 0; i < startup->init_count; i++)
        startup->init[i](argc, startup->argv, startup->envp);
    exit(main(argc, startup->argv, startup->envp));
}
