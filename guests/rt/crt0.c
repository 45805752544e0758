/* Program entry: the monitor starts a program at _start with rsp 16-byte aligned; main's result is the
 * exit status. Issue 3 grows this into the full runtime (argv, envp, init/fini, atexit). */
#include "twz_hypercall.h"

int main(void);

__attribute__((noreturn)) void twz_exit(int status)
{
    twz_hypercall1(TWZ_HC_EXIT, status);
    __builtin_unreachable();
}

__attribute__((section(".text.start"), noreturn)) void _start(void)
{
    twz_exit(main());
}
