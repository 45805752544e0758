/* Signals within one compartment, as a process with one thread has them. rt_sigaction keeps the handlers here;
 * raise, kill and tkill deliver at once unless the signal is blocked, and a blocked one stays pending until the
 * mask lets it through (musl's raise blocks every signal around tkill, so its signal is delivered when raise
 * restores the mask, before raise returns, as POSIX requires). A handler runs with its signal and its sa_mask
 * blocked. A signal whose default action ends a process ends the program with status 128 + its number, as a
 * shell reports it; one whose default is to be ignored (or stop/continue, without job control) does nothing.
 *
 * The real-time timer (alarm, setitimer ITIMER_REAL) raises SIGALRM when the program waits for it: in pause,
 * sigsuspend or a sleep (which it cuts short with EINTR, as it would); a program that computes past its alarm
 * without waiting sees it at its next wait. Faults are the monitor's: a memory fault or an invalid instruction
 * never reaches a handler. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "ksigaction.h"
#include "twz_runtime.h"

#define SIGNALS 65
#define BIT(sig) (1UL << ((sig) - 1))
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP))
#define NANOS 1000000000L

static struct k_sigaction actions[SIGNALS];
/* Pending signals as Linux keeps them: the thread's (tkill, raise) and the process's (kill), so a signal sent both
 * ways while blocked is delivered twice. */
static unsigned long blocked, pending, pending_process;
static unsigned long handled; /* how many times a handler has run: what ends a wait */
static long alarm_at, alarm_every; /* the timer: CLOCK_MONOTONIC nanoseconds (0: not armed), its interval */

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

static int ignored_by_default(long sig)
{
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT || sig == SIGSTOP ||
           sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static void deliver_pending(void);

static void deliver(long sig, int code)
{
    struct k_sigaction action = actions[sig];
    if (action.handler == SIG_IGN)
        return;
    if (action.handler == SIG_DFL) {
        if (!ignored_by_default(sig))
            __twz_monitor_exit(128 + sig);
        return;
    }
    if (action.flags & SA_RESETHAND)
        actions[sig].handler = SIG_DFL;
    unsigned long saved = blocked;
    blocked |= (action.mask[0] | (unsigned long)action.mask[1] << 32) & ~UNBLOCKABLE;
    if (!(action.flags & SA_NODEFER))
        blocked |= BIT(sig);
    handled++;
    if (action.flags & SA_SIGINFO) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = (int)sig;
        info.si_code = code;
        if (code != SI_KERNEL)
            info.si_pid = TWZ_PROCESS_ID; /* it sent the signal to itself: getpid() */
        ((void (*)(int, siginfo_t *, void *))action.handler)((int)sig, &info, 0);
    } else {
        action.handler((int)sig);
    }
    blocked = saved;
    deliver_pending(); /* what the handler raised while its mask held it */
}

static void deliver_pending(void)
{
    for (unsigned long ready; (ready = (pending | pending_process) & ~blocked);) {
        long sig = __builtin_ctzl(ready) + 1;
        int thread = (pending & BIT(sig)) != 0;
        if (thread)
            pending &= ~BIT(sig);
        else
            pending_process &= ~BIT(sig);
        deliver(sig, thread ? SI_TKILL : SI_USER);
    }
}

static void send(long sig, int code, unsigned long *pending_set)
{
    if (blocked & BIT(sig))
        *pending_set |= BIT(sig);
    else
        deliver(sig, code);
}

long __twz_raise(long sig, int to_process)
{
    if (sig < 0 || sig >= SIGNALS)
        return -EINVAL;
    if (sig)
        send(sig, to_process ? SI_USER : SI_TKILL, to_process ? &pending_process : &pending);
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
    blocked &= ~UNBLOCKABLE;
    deliver_pending();
    return 0;
}

long __twz_sigpending(unsigned long *set)
{
    *set = pending | pending_process;
    return 0;
}

/* -- the real-time timer -------------------------------------------------------------------------------------- */

static long now(void)
{
    struct timespec ts;
    __twz_monitor_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0);
    return ts.tv_sec * NANOS + ts.tv_nsec;
}

static long from_timeval(const struct timeval *tv)
{
    return tv->tv_sec * NANOS + tv->tv_usec * 1000L;
}

static void to_timeval(long nanos, struct timeval *tv)
{
    nanos = nanos > 0 ? nanos + 999 : 0; /* what is left rounds up: a timer still armed never reads 0 */
    tv->tv_sec = nanos / NANOS;
    tv->tv_usec = nanos % NANOS / 1000;
}

long __twz_itimer(long which, const struct itimerval *new, struct itimerval *old)
{
    if (which != ITIMER_REAL)
        return -EINVAL; /* the virtual and profiling timers count CPU time, which nothing here measures */
    if (old) {
        to_timeval(alarm_at ? alarm_at - now() : 0, &old->it_value);
        to_timeval(alarm_every, &old->it_interval);
    }
    if (new) {
        long value = from_timeval(&new->it_value), every = from_timeval(&new->it_interval);
        if (value < 0 || every < 0 || new->it_value.tv_usec >= 1000000 || new->it_interval.tv_usec >= 1000000)
            return -EINVAL;
        alarm_at = value ? now() + value : 0;
        alarm_every = value ? every : 0;
    }
    return 0;
}

/* Sleeps until `until` (CLOCK_MONOTONIC nanoseconds; 0: for ever, that is until the run stops) or the timer,
 * whichever comes first; 1 if the timer went off (SIGALRM sent), 0 if the time came. */
static int wait_until(long until)
{
    long end = alarm_at && (!until || alarm_at < until) ? alarm_at : until;
    struct timespec ts = {end ? end / NANOS : 1L << 40, end ? end % NANOS : 0};
    __twz_monitor_syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, end ? TIMER_ABSTIME : 0, (long)&ts, 0, 0);
    if (!alarm_at || now() < alarm_at)
        return 0;
    alarm_at = alarm_every ? alarm_at + alarm_every : 0;
    send(SIGALRM, SI_KERNEL, &pending_process);
    return 1;
}

/* pause, and sigsuspend with `mask` (else NULL): returns -EINTR once a handler has run. */
long __twz_wait_for_signal(const unsigned long *mask)
{
    unsigned long saved = blocked, before = handled;
    if (mask)
        blocked = *mask & ~UNBLOCKABLE;
    for (;;) {
        deliver_pending();
        if (handled != before || !wait_until(0))
            break; /* a handler ran, or the run is stopping (--timeout, Ctrl-C) */
    }
    blocked = saved;
    deliver_pending();
    return -EINTR;
}

/* nanosleep and clock_nanosleep: a handler run when the timer goes off cuts a sleep short (-EINTR, what is left
 * in `left`). */
long __twz_sleep(long clock, long flags, const struct timespec *request, struct timespec *left)
{
    if (!alarm_at || (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME))
        return __twz_monitor_syscall(SYS_clock_nanosleep, clock, flags, (long)request, (long)left, 0);
    if (request->tv_sec < 0 || (unsigned long)request->tv_nsec >= NANOS)
        return -EINVAL;
    long length = request->tv_sec * NANOS + request->tv_nsec, start = now();
    if (flags & TIMER_ABSTIME) {
        struct timespec ts;
        __twz_monitor_syscall(SYS_clock_gettime, clock, (long)&ts, 0, 0, 0);
        length -= ts.tv_sec * NANOS + ts.tv_nsec;
    }
    long end = start + (length > 0 ? length : 0);
    unsigned long before = handled;
    while (wait_until(end)) {
        if (handled == before)
            continue; /* SIGALRM blocked or ignored: the sleep goes on */
        if (left && !(flags & TIMER_ABSTIME)) {
            long rest = end - now();
            left->tv_sec = rest > 0 ? rest / NANOS : 0;
            left->tv_nsec = rest > 0 ? rest % NANOS : 0;
        }
        return -EINTR;
    }
    return 0;
}
