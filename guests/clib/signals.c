/* Signals as one process sees them: a blocked signal stays pending until unblocked, a handler runs with its own
 * signal (and its sa_mask) blocked, sigsuspend and pause wait for one, the real-time timer (alarm, setitimer) cuts
 * a sleep short. Built natively too: tests/test_clib.py compares the output with glibc's. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got[65];
static volatile int usr1_blocked_inside, usr2_blocked_inside;

static void handler(int sig)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    if (sig == SIGUSR1 && !got[SIGUSR1]) {
        usr1_blocked_inside = sigismember(&now, SIGUSR1);
        usr2_blocked_inside = sigismember(&now, SIGUSR2);
        raise(SIGUSR1); /* blocked while its handler runs: delivered once the handler returns */
    }
    got[sig]++;
}

static int is_pending(int sig)
{
    sigset_t set;
    sigpending(&set);
    return sigismember(&set, sig);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* the last alarm ends the program: nothing may wait in a buffer */
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &action, NULL);
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR2, &action, NULL);
    sigaction(SIGALRM, &action, NULL);

    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1); /* a second one while pending: still one */
    printf("blocked: got %d, pending %d\n", got[SIGUSR1], is_pending(SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: got %d, pending %d\n", got[SIGUSR1], is_pending(SIGUSR1));
    printf("inside its handler: SIGUSR1 blocked %d, SIGUSR2 (sa_mask) blocked %d\n", usr1_blocked_inside,
           usr2_blocked_inside);

    sigprocmask(SIG_BLOCK, &usr1, NULL);
    raise(SIGUSR1);
    int before = got[SIGUSR1];
    sigset_t none;
    sigemptyset(&none);
    int r = sigsuspend(&none);
    printf("sigsuspend: %d %s, got %d more\n", r, strerror(errno), got[SIGUSR1] - before);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);

    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    printf("ignored: got %d\n", got[SIGUSR2]);

    alarm(1);
    printf("alarm again: %u left\n", alarm(1));
    r = pause();
    printf("pause: %d %s, alarms %d\n", r, strerror(errno), got[SIGALRM]);

    alarm(1);
    unsigned left = sleep(5);
    printf("sleep cut short: %d, alarms %d\n", left >= 3 && left <= 4, got[SIGALRM]); /* 4 s less a bit */

    struct itimerval every = {{0, 200000}, {0, 200000}}, now;
    setitimer(ITIMER_REAL, &every, NULL);
    for (int i = 0; i < 3; i++)
        pause();
    getitimer(ITIMER_REAL, &now);
    printf("interval timer: alarms %d, still armed %d, every %ld us\n", got[SIGALRM],
           now.it_value.tv_sec > 0 || now.it_value.tv_usec > 0, (long)now.it_interval.tv_usec);
    every = (struct itimerval){{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &every, &now);
    printf("disarmed: %u\n", alarm(0));

    r = kill(0x7ffffff0, SIGUSR1); /* beyond any pid_max */
    printf("kill another pid: %d %s\n", r, strerror(errno));
    signal(SIGALRM, SIG_DFL);
    alarm(1);
    pause();
    printf("not reached\n");
    return 0;
}
