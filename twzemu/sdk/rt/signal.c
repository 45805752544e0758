/* Signals within one compartment: rt_sigaction keeps the handlers here; raise, kill and tkill deliver at once
 * to the one thread (a synchronous signal is delivered before raise returns, as POSIX requires). A signal
 * whose default action ends a process ends the program with status 128 + its number, as a shell reports it;
 * one whose default is to be ignored (or stop/continue, without job control) does nothing. Faults are the
 * monitor's: a memory fault or an invalid instruction never reaches a handler. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ksigaction.h"
#include "twz_runtime.h"

#define SIGNALS 65

static struct k_sigaction actions[SIGNALS];
static unsigned long blocked;

long __twz_sigaction(long sig, const struct k_sigaction *new, struct k_sigaction *old)
{
    if (sig < 1 || sig >= SIGNALS || ((sig == SIGKILL || sig == SIGSTOP) && new))
        return -EINVAL;
    if (old)
        *old = actions[sig];
    if (new)
        actions[sig] = *new;
    return 0;
}

long __twz_sigprocmask(long how, const unsigned long *set, unsigned long *old)
{
    if (old)
        *old = blocked;
    if (!set)
        return 0;
    if (how == SIG_BLOCK)
        blocked |= *set;
    else if (how == SIG_UNBLOCK)
        blocked &= ~*set;
    else if (how == SIG_SETMASK)
        blocked = *set;
    else
        return -EINVAL;
    return 0;
}

static int ignored_by_default(long sig)
{
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT || sig == SIGSTOP ||
           sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

long __twz_raise(long sig)
{
    if (sig == 0)
        return 0;
    if (sig < 1 || sig >= SIGNALS)
        return -EINVAL;
    struct k_sigaction action = actions[sig];
    if (action.handler == SIG_IGN)
        return 0;
    if (action.handler == SIG_DFL) {
        if (!ignored_by_default(sig))
            __twz_monitor_exit(128 + sig);
        return 0;
    }
    if (action.flags & SA_RESETHAND)
        actions[sig].handler = SIG_DFL;
    if (action.flags & SA_SIGINFO) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = (int)sig;
        info.si_code = SI_TKILL;
        ((void (*)(int, siginfo_t *, void *))action.handler)((int)sig, &info, 0);
    } else {
        action.handler((int)sig);
    }
    return 0;
}
