/* <dlfcn.h>: libraries loaded at run time, by the monitor (twzemu/monitor/dynload.py), into this compartment.
 *
 * dlopen asks the monitor to load and link the library (and what it needs that this compartment lacks) and runs
 * its initialisers here, as a dynamic linker would, once the TLS modules it loaded are musl's (tls.c); dlsym asks
 * the monitor for an address (a thread-local symbol's is the calling thread's); the last dlclose runs
 * the finalisers, and so does exit for a library still open. Errors come back as the monitor's reason, in this
 * compartment's gate buffer, for dlerror. musl's own stubs (dlopen, __dlsym: weak) give way to these; its
 * dlclose calls __twz_dlclose (twzemu/sdk/musl.py). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <twz.h>

#include "dynlink.h"
#include "lock.h"
#include "pthread_impl.h"
#include "twz_hypercall.h"
#include "twz_runtime.h"

#define MAX_FUNCTIONS 256
#define OWN_SCOPE ((void *)1) /* dlopen(NULL): the compartment's libraries, as dlsym(RTLD_DEFAULT) sees them */

extern char **__environ;

static void failed(void)
{
    __dl_seterr("%s", (const char *)twz_gate_buffer());
}

/* Each initialiser as the start-up calls them (argc, argv, envp), each finaliser with nothing. */
static void run_table(const unsigned long *table, int initialisers)
{
    for (unsigned long i = 0; i < table[0] && i < MAX_FUNCTIONS; i++) {
        if (initialisers)
            ((twz_init_fn)table[i + 1])(0, 0, __environ);
        else
            ((twz_fini_fn)table[i + 1])();
    }
}

static void close_at_exit(void *handle)
{
    unsigned long table[MAX_FUNCTIONS + 1];
    if (__twz_monitor_syscall(TWZ_SYS_DLCLOSE, (long)handle, (long)table, MAX_FUNCTIONS, 1, 0) == 0)
        run_table(table, 0);
}

hidden int __cxa_atexit(void (*function)(void *), void *arg, void *dso);

void *dlopen(const char *file, int mode)
{
    /* every library is loaded now (RTLD_LAZY is RTLD_NOW); the monitor acts on RTLD_GLOBAL and RTLD_NOLOAD */
    if (!file)
        return OWN_SCOPE;
    unsigned long table[MAX_FUNCTIONS + 1];
    struct twz_tls_loaded modules;
    long handle = __twz_monitor_syscall(TWZ_SYS_DLOPEN, (long)file, (long)table, MAX_FUNCTIONS, (long)&modules,
                                        TWZ_TLS_LOADED_MAX | (long)(unsigned)mode << 32);
    if (!handle) /* RTLD_NOLOAD of a library not loaded: NULL, and no error */
        return 0;
    if (handle < 0) {
        failed();
        return 0;
    }
    __twz_add_tls(&modules);
    if (table[0]) { /* loaded now: its initialisers run, and its finalisers at exit unless dlclose ran them */
        run_table(table, 1);
        __cxa_atexit(close_at_exit, (void *)handle, 0);
    }
    __twz_monitor_syscall(TWZ_SYS_DLREADY, handle, 0, 0, 0, 0); /* another thread's dlopen of it waited */
    return (void *)handle;
}

void *__dlsym(void *restrict handle, const char *restrict name, void *restrict caller)
{
    tls_mod_off_t index[2]; /* caller: where dlsym was called from (RTLD_NEXT searches past its library) */
    long address = __twz_monitor_syscall(TWZ_SYS_DLSYM, (long)handle, (long)name, (long)index, (long)caller, 0);
    if (address == TWZ_DLSYM_TLS)
        return __tls_get_addr(index);
    if ((unsigned long)address - 1 >= -4096UL - 1) { /* 0, or -errno */
        failed();
        return 0;
    }
    return (void *)address;
}

/* dladdr: the monitor names the library of this compartment that holds addr, and the symbol there; the names
 * given back stay valid (each kept once, as a dynamic linker's own strings do). */
static const char *kept(const char *name)
{
    static struct kept {
        struct kept *next;
        char name[];
    } *all;
    static volatile int lock[1];
    if (!*name)
        return 0;
    LOCK(lock);
    struct kept *k = all;
    while (k && strcmp(k->name, name))
        k = k->next;
    if (!k && (k = malloc(sizeof *k + strlen(name) + 1))) {
        strcpy(k->name, name);
        k->next = all;
        all = k;
    }
    UNLOCK(lock);
    return k ? k->name : 0;
}

int dladdr(const void *addr, Dl_info *info)
{
    union {
        struct twz_dladdr found;
        char bytes[8192];
    } answer;
    if (__twz_monitor_syscall(TWZ_SYS_DLADDR, (long)addr, (long)&answer, sizeof answer.bytes - 1, 0, 0) != 1)
        return 0;
    answer.bytes[sizeof answer.bytes - 1] = 0;
    const char *path = answer.found.names;
    info->dli_fname = kept(path);
    info->dli_fbase = (void *)answer.found.base;
    info->dli_sname = kept(path + strlen(path) + 1);
    info->dli_saddr = (void *)answer.found.symbol;
    return 1;
}

hidden int __twz_dlclose(void *handle)
{
    if (handle == OWN_SCOPE)
        return 0;
    unsigned long table[MAX_FUNCTIONS + 1];
    if (__twz_monitor_syscall(TWZ_SYS_DLCLOSE, (long)handle, (long)table, MAX_FUNCTIONS, 0, 0) < 0) {
        failed();
        return 1;
    }
    run_table(table, 0);
    return 0;
}
