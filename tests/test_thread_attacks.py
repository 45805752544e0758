"""Threads against the monitor (issue 14): every attempt of an adversarial review of the threads, kept. Each guest
is built here from its source with ``twzemu cc``; most run under several seeded schedules as well."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build

from twzemu.monitor.layout import GUARD_SIZE, THREAD_INFO, guarded_stack, stack_bounds
from twzemu.security.ids import MONITOR, PROGRAM

SCHEDULES = [(), ("--quantum", "200", "--schedule-seed", "1")]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "twzemu.cli", "run", "--timeout", "30", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=90)


REQUEUE_ONTO_ITSELF = r"""
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
static volatile int word;
static void *waiter(void *a) { syscall(SYS_futex, &word, 0, 0, 0, 0, 0); return a; }
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, waiter, 0);
    for (int i = 0; i < 100; i++) sched_yield();
    printf("requeue -> %ld\n", syscall(SYS_futex, &word, 3, 0, (void *)LONG_MAX, &word, 0));
    printf("wake -> %ld\n", syscall(SYS_futex, &word, 1, 1, 0, 0, 0));
    pthread_join(t, 0);
    return 0;
}
"""


def test_a_requeue_onto_its_own_futex_moves_nobody(tmp_path: Path) -> None:
    """FUTEX_REQUEUE of a futex onto itself with a count of 2^63 (the monitor looped in its hook: --timeout could
    not stop it)."""
    build(tmp_path, "requeue", REQUEUE_ONTO_ITSELF)
    done = run(tmp_path, "requeue")
    assert (done.returncode, done.stdout, done.stderr) == (0, "requeue -> 0\nwake -> 1\n", "")


LIBF = r"""
#include <stdio.h>
#include <twz.h>
static volatile int finishing;
__attribute__((destructor)) static void fini(void) {
    finishing = 1;
    for (volatile long i = 0; i < 1000000; i++) ;
    printf("libf fini done\n");
}
long fping(void) { return finishing; }
TWZ_GATE(fping);
"""
EXIT_FROM_A_THREAD = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
long fping(void);
static void *child(void *a) { (void)a; printf("T2 calls exit(4)\n"); exit(4); }
int main(void) {
    fping();
    pthread_t t;
    pthread_create(&t, 0, child, 0);
    pthread_join(t, 0);
    return 0;
}
"""
EXIT_WHILE_ANOTHER_RUNS = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
long fping(void);
static void *child(void *a) { (void)a; while (!fping()) ; for (;;) *(volatile int *)8 = 1; }
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, child, 0);
    printf("main exits 3\n");
    exit(3);
}
"""


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_exit_from_any_thread_ends_the_others_and_runs_the_finalisers(
    tmp_path: Path, schedule: tuple[str, ...]
) -> None:
    """exit() from a thread that never entered the library (its finalisers were refused: 139), and exit() while
    another thread polls the library to fault once its finaliser runs (threads ran on during the finalisers)."""
    build(tmp_path, "f", LIBF, "-shared")
    build(tmp_path, "fromthread", EXIT_FROM_A_THREAD, "-L.", "-lf")
    build(tmp_path, "whileruns", EXIT_WHILE_ANOTHER_RUNS, "-L.", "-lf")
    done = run(tmp_path, *schedule, "fromthread")
    assert (done.returncode, done.stdout, done.stderr) == (4, "T2 calls exit(4)\nlibf fini done\n", "")
    done = run(tmp_path, *schedule, "whileruns")
    assert (done.returncode, done.stdout, done.stderr) == (3, "main exits 3\nlibf fini done\n", "")


LIBR = r"""
#include <unistd.h>
#include <twz.h>
long r_nop(void) { return getpid() > 0; }
TWZ_GATE(r_nop);
"""
LIBBARE = r"""
#include <twz.h>
long bare_nop(void) { return 1; }
TWZ_GATE(bare_nop);
"""
EIGHT_AT_ONCE = r"""
#include <pthread.h>
#include <stdio.h>
long r_nop(void);
long bare_nop(void);
static void *child(void *a) { (void)a; return (void *)(r_nop() + bare_nop()); }
int main(void) {
    pthread_t t[8];
    long sum = 0;
    for (int i = 0; i < 8; i++) pthread_create(&t[i], 0, child, 0);
    for (int i = 0; i < 8; i++) { void *r; pthread_join(t[i], &r); sum += (long)r; }
    printf("sum %ld\n", sum);
    return 0;
}
"""


@pytest.mark.parametrize("seed", ["1", "2", "4"])
def test_threads_entering_a_library_at_once_leave_its_heap_whole(tmp_path: Path, seed: str) -> None:
    """Eight new threads enter a library at once (its musl ran unlocked until a second thread arrived: its
    allocator was corrupted), and a library that uses no C library (its runtime never started: making the thread
    its own there faulted)."""
    build(tmp_path, "r", LIBR, "-shared")
    build(tmp_path, "bare", LIBBARE, "-shared")
    build(tmp_path, "eight", EIGHT_AT_ONCE, "-L.", "-lr", "-lbare")
    done = run(tmp_path, "--quantum", "200", "--schedule-seed", seed, "eight")
    assert (done.returncode, done.stdout, done.stderr) == (0, "sum 16\n", "")


LIBCTOR = r"""
#include <pthread.h>
#include <stdio.h>
#include <twz.h>
static volatile int go;
static void *child(void *a) { (void)a; while (!go) ; *(volatile int *)0 = 1; return 0; }
__attribute__((constructor)) static void ctor(void) {
    pthread_t t;
    pthread_create(&t, 0, child, 0);
    go = 1;
    for (volatile long i = 0; i < 3000000; i++) ;
    printf("ctor done\n");
}
long ping(void) { return 7; }
TWZ_GATE(ping);
"""
CTOR_MAIN = r"""
#include <stdio.h>
long ping(void);
int main(void) { printf("main ping %ld\n", ping()); return 0; }
"""


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_a_thread_a_constructor_started_faulting_stops_the_program_once(
    tmp_path: Path, schedule: tuple[str, ...]
) -> None:
    """Its fault is outside any crossing: one line, 139 (start-up went on on that thread, with a false 'failed to
    initialise' line and a second fault)."""
    build(tmp_path, "ctor", LIBCTOR, "-shared")
    build(tmp_path, "prog", CTOR_MAIN, "-L.", "-lctor")
    done = run(tmp_path, *schedule, "prog")
    assert (done.returncode, done.stdout) == (139, "")
    assert done.stderr.splitlines() == [
        "twzemu: fault: write 0x0 (0x0) in no object from prog::libctor.so at child+0xa"
    ]


LIBPID = r"""
#include <sys/syscall.h>
#include <twz.h>
#include <unistd.h>
long m_pid(void) { return syscall(SYS_getpid); }
TWZ_GATE(m_pid);
"""
PID_MAIN = r"""
#include <stdio.h>
long m_pid(void);
int main(void) { printf("m_pid %ld\n", m_pid()); return 0; }
"""


def test_a_gate_that_tail_calls_a_variadic_function_reads_above_its_frame(tmp_path: Path) -> None:
    """The callee's frame is the top of its stack; syscall() reads its sixth argument above it (that page was the
    next thread's guard page: TWZ_EFAULT and a false stack overflow)."""
    build(tmp_path, "pid", LIBPID, "-shared")
    build(tmp_path, "prog", PID_MAIN, "-L.", "-lpid")
    for options in ((), ("--trace",)):
        done = run(tmp_path, *options, "prog")
        assert (done.returncode, done.stdout) == (0, "m_pid 1\n")
        assert not [line for line in done.stderr.splitlines() if "trace:" not in line]


LIBK = r"""
#include <sys/syscall.h>
#include <twz.h>
#include <unistd.h>
static int ready;
__attribute__((constructor)) static void kinit(void) {
    if (syscall(SYS_gettid) != 1) syscall(SYS_exit, 0);
    ready = 1;
}
long kping(void) { return ready ? 100 : -100; }
TWZ_GATE(kping);
"""
LIBL = r"""
#include <pthread.h>
#include <stdio.h>
#include <twz.h>
long kping(void);
static void *child(void *a) { (void)a; printf("T2 kping %ld\n", kping()); return 0; }
__attribute__((constructor)) static void linit(void) {
    pthread_t t;
    pthread_create(&t, 0, child, 0);
    for (volatile long i = 0; i < 3000000; i++) ;
}
long lnop(void) { return 0; }
TWZ_GATE(lnop);
"""
KL_MAIN = r"""
#include <stdio.h>
long lnop(void);
long kping(void);
int main(void) { lnop(); printf("main kping %ld\n", kping()); return 0; }
"""


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_initialisers_and_the_threads_that_run_them(tmp_path: Path, schedule: tuple[str, ...]) -> None:
    """A thread a constructor started enters a compartment whose initialisers the first thread runs: it waits for
    them (it was refused as an 'initialisation cycle'). Loaded the other way round, that thread runs them itself and
    ends in them: the compartment failed (its waiters waited forever), with one line naming the thread."""
    build(tmp_path, "k", LIBK, "-shared")
    build(tmp_path, "l", LIBL, "-shared", "-L.", "-lk")
    build(tmp_path, "waits", KL_MAIN, "-L.", "-ll", "-lk")
    done = run(tmp_path, *schedule, "waits")
    assert (done.returncode, done.stderr) == (0, "")
    assert sorted(done.stdout.splitlines()) == ["T2 kping 100", "main kping 100"]
    build(tmp_path, "ends", KL_MAIN, "-L.", "-lk", "-ll")
    done = run(tmp_path, *schedule, "ends")
    assert (done.returncode, done.stdout) == (0, "main kping -1\n")
    assert done.stderr.splitlines() == [
        "twzemu: compartment ends::libk.so failed to initialise: T2, running its initialisers, ended; its gates "
        "answer TWZ_EPERM"
    ]


LIBV = r"""
#include <twz.h>
static long vsecret = 0x5ec;
long v_addr(void) { return (long)&vsecret; }
TWZ_GATE(v_addr);
long v_get(void) { return vsecret; }
TWZ_GATE(v_get);
"""
PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
long v_addr(void);
long v_get(void);
#define F (0x100 | 0x10000)
static int word = 5;
static void child(void) { for (;;) syscall(SYS_exit, 0); }
static long stack[1024] __attribute__((aligned(16)));
int main(int argc, char **argv) {
    stack[1020] = (long)child;
    long good = (long)&stack[1020], text = (long)&main;
    long addresses[] = {0, v_addr(), 0xffff800000001000L, (long)0x8000000000000000UL, 4, -4};
    printf("tls elsewhere %ld\n", syscall(SYS_clone, F | 0x80000, good, 0, 0, v_addr()));
    for (int i = 1; i < argc + 6; i++) {
        if (i == argc - 1) { /* the last: the thread's information page, for parent_tid only */
            long a = strtol(argv[i], 0, 0);
            printf("- %ld\n", syscall(SYS_clone, F | 0x100000, good, a, 0, 0));
            continue;
        }
        long a = i < argc ? strtol(argv[i], 0, 0) : addresses[i - argc];
        long clone_stack = syscall(SYS_clone, F, a, 0, 0, 0);
        long clone_tid = syscall(SYS_clone, F | 0x100000, good, a, 0, 0);
        long wake = syscall(SYS_futex, a, 1, 1, 0, 0, 0), wait = syscall(SYS_futex, a, 0, 12345, 0, 0, 0);
        long requeue = syscall(SYS_futex, &word, 3, 0, 1, a, 0);
        long timeout = a ? syscall(SYS_futex, &word, 0, 5, a, 0, 0) : -1;
        printf("%ld %ld %ld %ld %ld %ld\n", clone_stack, clone_tid, wake, wait, requeue, timeout);
    }
    printf("text %ld\n", syscall(SYS_clone, F | 0x100000, good, text, 0, 0));
    long bad_op = syscall(SYS_futex, &word, 99, 0, 0, 0, 0), no_thread = syscall(SYS_tkill, 9999, 0);
    printf("secret %ld, futex 99 %ld, tkill 9999 %ld, clone 0 %ld\n", v_get(), bad_op, no_thread,
           syscall(SYS_clone, 0, good, 0, 0, 0));
    return 0;
}
"""


def test_hostile_thread_system_call_arguments_are_efault(tmp_path: Path) -> None:
    """clone's stack, parent_tid and tls, and futex addresses and timeouts, aimed at nothing, at guard pages, at the
    thread information and gate buffer pages, at another compartment, the monitor's stack, the kernel half and
    non-canonical addresses: EFAULT (-1 with errno), nothing written; bad operations ENOSYS or ESRCH."""
    build(tmp_path, "v", LIBV, "-shared")
    build(tmp_path, "probe", PROBE, "-L.", "-lv")
    first_guard = stack_bounds(PROGRAM, 1)[0] - GUARD_SIZE
    assert guarded_stack(first_guard) == 1
    aimed = [stack_bounds(PROGRAM, 0)[0] - GUARD_SIZE + 16, first_guard, stack_bounds(MONITOR, 0)[1] - 256]
    done = run(tmp_path, "probe", *(hex(a) for a in aimed), hex(THREAD_INFO))
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0] == "tls elsewhere -1"
    for line in lines[1:4] + lines[5:-2]:  # guard pages, the monitor's stack, another compartment, nothing
        assert line.split() == ["-1"] * 6, line
    assert lines[4] == "- -1"  # the thread's own information page is read-only: clone writes no thread id there
    assert lines[-2] == "text -1"
    assert lines[-1] == "secret 1516, futex 99 -1, tkill 9999 -1, clone 0 -1"


RAW_EXIT = r"""
#include <twz.h>
__attribute__((weak)) long __twz_monitor_syscall(long, long, long, long, long, long);
static long served;
long end_caller(long result) { return __twz_monitor_syscall(60, 0, result, 0, 0, 0); }  /* no pthread_exit here */
TWZ_GATE(end_caller);
long still_serving(void) { return ++served; }
TWZ_GATE(still_serving);
"""
RAW_EXIT_USER = r"""
#include <pthread.h>
#include <stdio.h>
long end_caller(long);
long still_serving(void);
static void *victim(void *arg) { end_caller((long)arg); return (void *)-1L; }
int main(void) {
    pthread_t t;
    void *result;
    pthread_create(&t, 0, victim, (void *)0x41L);
    int joined = pthread_join(t, &result);
    long first = still_serving();
    printf("joined %d with %#lx; the library serves on: %ld %ld\n", joined, (long)result, first, still_serving());
    return 0;
}
"""


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_a_library_that_ends_its_callers_thread_by_hand_ends_it_at_home(tmp_path: Path,
                                                                       schedule: tuple[str, ...]) -> None:  # fmt: skip
    """A library's gate makes the thread-exit system call itself, with a result of its choosing, without its C
    library's pthread_exit: the caller's thread unwinds to its home and ends there through the home's pthread_exit
    (its join returns that result, as if the thread had called pthread_exit); the library serves on. It cannot
    choose where the thread goes, nor the stack it goes there on."""
    build(tmp_path, "ender", RAW_EXIT, "-shared")
    build(tmp_path, "victim", RAW_EXIT_USER, "-L.", "-lender")
    done = run(tmp_path, *schedule, "victim")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "joined 0 with 0x41; the library serves on: 1 2\n"


NAMES = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <twz.h>
long rename_caller(void) { return prctl(PR_SET_NAME, (unsigned long)"renamed-by-lib", 0, 0, 0); }
TWZ_GATE(rename_caller);
long name_into(unsigned long where) { return prctl(PR_GET_NAME, where, 0, 0, 0); }
TWZ_GATE(name_into);
"""
NAMES_USER = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
long rename_caller(void);
long name_into(unsigned long);
int main(void) {
    char name[16];
    long renamed = rename_caller();
    pthread_getname_np(pthread_self(), name, sizeof name);
    printf("renamed %ld: %s\n", renamed, name);
    printf("into the program's memory %ld, into its code %d, from nowhere %d\n", name_into((unsigned long)name),
           prctl(PR_GET_NAME, (unsigned long)main, 0, 0, 0) ? errno : 0,
           prctl(PR_SET_NAME, 8UL, 0, 0, 0) ? errno : 0);
    return 0;
}
"""


def test_a_threads_name_is_its_own_in_every_compartment_and_names_only_memory_the_caller_may_touch(
    tmp_path: Path,
) -> None:
    """prctl(PR_SET_NAME) in a library renames the thread, as Linux keeps one name per thread (the program sees
    it); the library cannot write the name into the program's memory (its gate's call fails), and nobody can
    have it written into code or read from an address it may not read (EFAULT)."""
    build(tmp_path, "names", NAMES, "-shared")
    build(tmp_path, "names_user", NAMES_USER, "-L.", "-lnames")
    done = run(tmp_path, "names_user")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "renamed 0: renamed-by-lib"
    assert lines[1] == "into the program's memory -1, into its code 14, from nowhere 14"


MREMAP_PROBE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
int main(void) {
    char *p = malloc(100);
    void *page = p - ((unsigned long)p & 4095);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 20; i++)
        if (mremap(page, 1UL << 40, 2UL << 40, 0) != MAP_FAILED)
            return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("probes of a terabyte: %s\n", b.tv_sec - a.tv_sec < 2 ? "answered at once" : "slow");
    return 0;
}
"""


def test_an_mremap_probe_of_a_huge_range_is_answered_at_once(tmp_path: Path) -> None:
    """mremap without MREMAP_MAYMOVE asks the monitor whether the old range is mapped: a range of a terabyte from
    the caller's heap is answered from its ends (a walk of its pages took the monitor most of a second a call)."""
    build(tmp_path, "mremap_probe", MREMAP_PROBE)
    done = run(tmp_path, "mremap_probe")
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "probes of a terabyte: answered at once\n")
