/* A program's life in the runtime: start-up (twz_startup.h), exit, atexit, abort. */
#include <stdio.h>
#include <stdlib.h>

#include "rt.h"
#include "sys.h"
#include "twz_rt.h"

#define ATEXIT_MAX 32
#define ABORT_STATUS 134 /* 128 + SIGABRT, as a shell reports an aborted process (DESIGN.md "Exit status") */

char **environ;

/* Everything exit() needs, in one place so that one lock can guard it once there are threads. */
static struct {
    void (*atexit[ATEXIT_MAX])(void);
    unsigned long atexit_count;
    twz_fini_fn *fini;
    unsigned long fini_count;
    unsigned long fini_done;
} lifecycle;

void __twz_start(struct twz_startup *startup, int (*main)(int, char **, char **))
{
    int argc = (int)startup->argc;

    environ = startup->envp;
    lifecycle.fini = startup->fini;
    lifecycle.fini_count = startup->fini_count;
    /* The monitor has already put the init functions in the required order (twz_startup.h). */
    for (unsigned long i = 0; i < startup->init_count; i++)
        startup->init[i](argc, startup->argv, startup->envp);
    exit(main(argc, startup->argv, startup->envp));
}

int atexit(void (*fn)(void))
{
    if (lifecycle.atexit_count == ATEXIT_MAX)
        return -1;
    lifecycle.atexit[lifecycle.atexit_count++] = fn;
    return 0;
}

/* Each handler and fini function is consumed before it runs, so one that calls exit() again carries on with
 * the rest instead of running itself twice; a handler registered during exit still runs (as in glibc). */
void exit(int status)
{
    while (lifecycle.atexit_count > 0)
        lifecycle.atexit[--lifecycle.atexit_count]();
    while (lifecycle.fini_done < lifecycle.fini_count)
        lifecycle.fini[lifecycle.fini_done++]();
    fflush(NULL);
    twz_sys_exit(status);
}

void _Exit(int status)
{
    twz_sys_exit(status);
}

void abort(void)
{
    fflush(NULL);
    twz_sys_exit(ABORT_STATUS);
}

/* The first guests' exit (twz_rt.h); it now exits like returning from main does. */
void twz_exit(int status)
{
    exit(status);
}
