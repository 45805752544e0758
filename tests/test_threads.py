"""Threads (issue 14): musl's pthreads over the monitor's threads, crossings from several threads at once, the
scheduler, deadlocks and stack overflows; guests/threads/."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path

import capstone
import pytest
from conftest import ROOT, build, guest

from twzemu.machine.events import StopReason
from twzemu.machine.machine import Machine
from twzemu.monitor.monitor import Monitor
from twzemu.monitor.threads import Schedule
from twzemu.objects.store import ObjectStore


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "twzemu.cli", "run", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def native(tmp_path: Path, name: str) -> str:
    """guests/threads/NAME.c built by gcc against glibc and run: what the guest's output is compared with."""
    output = tmp_path / f"{name}-native"
    subprocess.run(["gcc", "-w", "-pthread", "-o", str(output), str(ROOT / f"guests/threads/{name}.c")], check=True)
    return subprocess.run([str(output)], capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.mark.parametrize("schedule", [(), ("--quantum", "700", "--schedule-seed", "3")])
def test_pthreads_mutexes_conditions_keys_and_thread_locals_as_glibc(tmp_path: Path, schedule: tuple[str, ...]) -> None:
    """guests/threads/basics.c: create and join, a mutex-guarded counter, a producer and consumers on condition
    variables, thread-specific data and its destructors, __thread, a detached thread, a read-write lock, once,
    semaphores, cancelling a thread that waits on a condition (its cleanup handler runs), C11 threads: as glibc
    prints it, under the default schedule and a seeded one."""
    done = run(*schedule, str(guest("threads/basics")))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == native(tmp_path, "basics")


def test_threads_cross_into_one_isolated_library_at_once() -> None:
    """guests/threads/gated.c: four threads call libtally's gates at once (its own lock, heap and __thread counters
    see every call, each thread's counter its own); a fifth thread's violation fails its call alone; a thread that
    ends inside the library (pthread_exit in a gate) ends alone, and the library still serves the others."""
    done = run(str(guest("threads/gated")))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "total 3000 (expected 3000), last calls 1200004, fault -14\nafter end 0, tally again 1, total 3000\n"
    )
    assert done.stderr.splitlines() == [
        "twzemu: security violation: read secret+0x0 (0xc00011a8) in gated from gated::libtally.so at touch+0x0"
    ]


def test_every_thread_waiting_is_a_deadlock_naming_each() -> None:
    done = run(str(guest("threads/deadlock")))
    assert (done.returncode, done.stdout) == (134, "waiting\n")
    (line,) = done.stderr.splitlines()
    assert line.startswith("twzemu: deadlock: T1 waits on futex ")
    assert "; T2 waits on futex second+0x4 " in line and "; T3 waits on futex first+0x4 " in line


def test_a_thread_running_over_its_stack_hits_its_guard_page() -> None:
    done = run(str(guest("threads/overflow")))
    assert (done.returncode, done.stdout) == (139, "")
    assert done.stderr.splitlines() == ["twzemu: fault: stack overflow of T2 at recurse+0x7 in overflow"]


def test_a_thread_waits_for_a_pipe_another_fills() -> None:
    done = run(str(guest("threads/pipe")))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "".join(f"line {i}\n" for i in range(5)) + "35 bytes\n"


@pytest.mark.parametrize("seed", ["1", "2"])
def test_a_seeded_schedule_replays_exactly(seed: str) -> None:
    """guests/threads/race.c adds to a counter without a lock: its result is the schedule's. Under --quantum and
    --schedule-seed, two runs with the same seed print the same, instruction for instruction."""
    first = run("--quantum", "5000", "--schedule-seed", seed, str(guest("threads/race")))
    second = run("--quantum", "5000", "--schedule-seed", seed, str(guest("threads/race")))
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout and first.stdout.endswith(" of 300000\n")


@pytest.mark.parametrize("seed", [None, 4])
def test_a_quantum_switched_in_the_counters_hook_is_the_one_a_stop_would_give(monkeypatch, seed) -> None:
    """A spent quantum switches threads in the counter's hook, without leaving emu_start; the run loop does it
    instead when the hook declines. Both give the same interleaving, instruction for instruction."""

    def race(declined: bool) -> bytes:
        if declined:
            monkeypatch.setattr(Machine, "_on_quantum", lambda _self, _uc: 0)
        out = io.BytesIO()
        monitor = Monitor(ObjectStore.in_memory(), out, io.BytesIO(), schedule=Schedule(3000, seed))
        assert monitor.run(str(guest("threads/race")), timeout=30).status == 0
        return out.getvalue()

    in_hook = race(declined=False)
    assert in_hook.endswith(b" of 300000\n") and in_hook != b"thread 0 done at 100000\n"
    assert race(declined=True) == in_hook


def test_seeds_explore_different_schedules() -> None:
    outputs = {run("--quantum", "3000", "--schedule-seed", str(seed), str(guest("threads/race"))).stdout
               for seed in range(4)}  # fmt: skip
    assert len(outputs) > 1


def test_the_trace_names_each_thread() -> None:
    done = run("--trace", str(guest("threads/gated")))
    threads = {line.split()[3] for line in done.stderr.splitlines() if line.startswith("twzemu: trace: enter")}
    assert {"T1", "T2", "T3", "T4", "T5"} <= threads


SPIN_FIRST = r"""
#include <pthread.h>
#include <stdio.h>
static volatile int flag;
__attribute__((noinline)) static void spin_until(volatile int *f, long limit) {
    for (long i = 0; i < limit && !*f; i++) ;
}
static void *setter(void *a) { (void)a; flag = 1; return 0; }
int main(void) {
    spin_until(&flag, 3000000);
    pthread_t t;
    pthread_create(&t, 0, setter, 0);
    spin_until(&flag, 4000000000L);
    printf("flag %d\n", flag);
    return pthread_join(t, 0);
}
"""


def test_a_loop_run_before_the_second_thread_existed_is_preempted(tmp_path: Path) -> None:
    """The first thread spins in code it ran alone before it created a second thread: only preemption lets the
    second set the flag (code translated before the instruction counter existed would never be counted)."""
    build(tmp_path, "spin", SPIN_FIRST)
    done = run("--timeout", "20", str(tmp_path / "spin"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "flag 1\n", "")


SPIN_THEN_LOAD = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
static volatile int flag;
__attribute__((noinline)) static void spin_until(volatile int *f, long limit) {
    for (long i = 0; i < limit && !*f; i++) ;
}
int main(void) {
    void *starter = dlopen("libstarter.so", RTLD_NOW);
    typedef int starter_fn(volatile int *, pthread_t *);
    starter_fn *start = starter ? (starter_fn *)dlsym(starter, "start") : 0;
    if (!start)
        return 2;
    spin_until(&flag, 3000000);
    pthread_t t;
    if (start(&flag, &t))
        return 3;
    spin_until(&flag, 4000000000L);
    printf("flag %d\n", flag);
    return pthread_join(t, 0);
}
"""
STARTER = r"""
#include <pthread.h>
static void *setter(void *flag) { *(volatile int *)flag = 1; return 0; }
int start(volatile int *flag, pthread_t *t) { return pthread_create(t, 0, setter, (void *)flag); }
"""


def test_a_loop_translated_before_a_loaded_library_made_a_thread_is_counted(tmp_path: Path) -> None:
    """Under --quantum, a program that does not create threads itself runs without the instruction counter until a
    library it loaded at run time makes one; its spin loop, translated (after the load) before that, must count from
    then on, or the setter never runs."""
    build(tmp_path, "starter", STARTER, "-shared")
    build(tmp_path, "spin", SPIN_THEN_LOAD)
    command = [sys.executable, "-m", "twzemu.cli", "run", "--quantum", "100000", "--timeout", "20", "spin"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "flag 1\n", "")


def test_the_counter_counts_each_block_as_capstone_decodes_it() -> None:
    """Under --quantum the engine counts a block's instructions in C (Unicorn reads its bytes through the page tables,
    capstone decodes them): every block of a threaded run (the C library's, musl's pthreads', the program's) holds
    as many as capstone finds decoding the same bytes from Python."""
    path = str(guest("threads/basics"))
    monitor = Monitor(ObjectStore.in_memory(), io.BytesIO(), io.BytesIO(), schedule=Schedule(700, 3))
    linked = monitor.link(path)
    with Machine(monitor.ram_size) as machine:
        run = monitor.start(machine, linked, [path])
        assert machine.run(linked.entry).reason is StopReason.EXIT
        blocks = machine.counted_blocks
        assert len(blocks) > 500 and max(count for _, _, count in blocks) > 10
        spaces = [state.space for state in run.states.values()]  # the program's and the monitor's runtime
        decoder = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        for address, size, count in blocks:
            space = next(s for s in spaces if s.mapping_at(address) is not None)
            decoded = sum(1 for _ in decoder.disasm_lite(space.read_virtual(address, size), address))
            assert count == decoded, hex(address)


PORTER = r"""
#include <twz.h>
static long compute(long rounds)
{
    volatile unsigned long x = 1;
    for (long i = 0; i < rounds; i++)
        x = x * 3 + 1;
    return (long)(x & 1);
}
long spin_in(long rounds) { return compute(rounds) >= 0; }
TWZ_GATE(spin_in);
long port(long rounds)  /* `in` at CPL3 is refused (#GP): this call fails, the caller's thread alone */
{
    compute(rounds);
    __asm__ volatile("in %%dx, %%al\n\tnop\n\tnop\n\tnop" ::: "rax");
    return 2;
}
TWZ_GATE(port);
"""
PORTED = r"""
#include <pthread.h>
#include <stdio.h>
long spin_in(long rounds);
long port(long rounds);
static void *other(void *arg)
{
    long failed = 0;
    for (int i = 0; i < 400; i++)
        failed += spin_in(40) != 1;
    return (void *)failed;
}
int main(void)
{
    pthread_t t;
    pthread_create(&t, 0, other, 0);
    long result = port(300);
    void *failed;
    pthread_join(t, &failed);
    printf("port %ld, the other thread's failed calls %ld\n", result, (long)failed);
    return 0;
}
"""


@pytest.mark.parametrize("quantum", ["1", "3", "7"])
def test_quanta_shorter_than_a_block_make_progress_and_a_refused_instruction_fails_its_thread_alone(
    tmp_path: Path, quantum: str
) -> None:
    """Quanta of a few instructions (shorter than many blocks: each quantum still runs one block, where a block
    longer than the quantum was switched away before it ran, again and again, until the timeout); one thread's
    instruction refused inside an isolated library (a fault an instruction hook defers to the run loop) fails that
    thread's call alone, however the quanta fall around it."""
    build(tmp_path, "porter", PORTER, "-shared")
    build(tmp_path, "ported", PORTED, "-L.", "-lporter")
    for seed in ((), ("--schedule-seed", "1"), ("--schedule-seed", "2")):
        command = [sys.executable, "-m", "twzemu.cli", "run", "--quantum", quantum, *seed, "--timeout", "30", "ported"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=90)
        assert (done.returncode, done.stdout) == (0, "port -14, the other thread's failed calls 0\n"), done.stderr
        assert done.stderr.startswith("twzemu: fault: in refused (general protection) at port+0x")


ONE_INSTRUCTION_ADDS = r"""
#include <pthread.h>
#include <stdio.h>

#define ROUNDS 40000000L
static long counter;

static void *add(void *arg)
{
    for (long i = 0; i < ROUNDS; i++)
        __asm__ volatile("addq $1, %0" : "+m"(counter));  /* one instruction: a switch falls before or after it */
    return arg;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, 0, add, 0);
    add(0);
    pthread_join(t, 0);
    printf("%ld of %ld\n", counter, 2 * ROUNDS);
    return 0;
}
"""


def test_the_timer_preempts_between_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The default quantum is the host's time, from a timer thread: Unicorn stopped from another thread may run the
    instruction it stopped in again (unicorn #1355: measured, about once a stop), so the machine makes stops land at
    a block's start. Two threads add to one counter with one instruction each, preempted hundreds of times: nothing
    is added twice (and, one instruction being indivisible, nothing lost)."""
    from twzemu.cli import main
    from twzemu.machine.machine import Machine
    from twzemu.monitor import threads

    program = build(tmp_path, "adds", ONE_INSTRUCTION_ADDS)
    switches = []
    request_switch = Machine.request_switch

    def counted(machine: Machine) -> None:
        switches.append(None)
        request_switch(machine)

    monkeypatch.setattr(threads, "DEFAULT_PERIOD", 0.0002)
    monkeypatch.setattr(Machine, "request_switch", counted)
    assert main(["run", str(program)]) == 0
    assert capfd.readouterr().out == "80000000 of 80000000\n"
    assert len(switches) > 100


SPAWNERS = r"""
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
static __thread long mine = 5;
static atomic_long bad;
static void *child(void *arg) {
    long me = (long)arg;
    if (mine != 5)
        bad++;
    mine = me;
    for (volatile int i = 0; i < 3000; i++)
        if (mine != me) {
            bad++;
            break;
        }
    return 0;
}
static void *spawner(void *arg) {
    for (long k = 0; k < 25; k++) {
        pthread_t t;
        if (pthread_create(&t, 0, child, (void *)((long)arg * 1000 + k)))
            bad++;
        else
            pthread_join(t, 0);
    }
    return 0;
}
int main(void) {
    pthread_t s[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&s[i], 0, spawner, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(s[i], 0);
    printf("bad %ld\n", (long)bad);
    return 0;
}
"""


@pytest.mark.parametrize("seed", ["7", "21"])
def test_threads_that_create_threads_at_once_get_memory_of_their_own(tmp_path: Path, seed: str) -> None:
    """Four threads create and join threads at once: each new thread's stack and TLS are its own (the runtime's
    anonymous memory had no lock: two threads got the same range, and the run ended silently or faulted)."""
    build(tmp_path, "spawners", SPAWNERS)
    done = run("--quantum", "100", "--schedule-seed", seed, str(tmp_path / "spawners"))
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "bad 0\n")


def test_a_timer_stop_that_lands_in_the_next_run_of_the_guest_is_a_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The timer thread sets the switch flag, then stops the guest; if the run loop took the flag and resumed the
    guest in between, the stop lands in the next emu_start, with no reason of its own: it is a switch (it was
    "emulation stopped for no reason", status 70). The timer is held in that window here."""
    import time

    from unicorn.unicorn_py3.unicorn import uclib

    from twzemu.cli import main
    from twzemu.machine.machine import Machine
    from twzemu.monitor import threads

    program = build(tmp_path, "adds", ONE_INSTRUCTION_ADDS.replace("40000000L", "4000000L"))
    original = Machine.request_switch

    def late(machine: Machine) -> None:
        if threading.current_thread().name != "twzemu-quantum":
            original(machine)
            return
        machine._switch = True
        time.sleep(0.0001)
        uclib.uc_emu_stop(machine._handle)

    monkeypatch.setattr(threads, "DEFAULT_PERIOD", 0.0005)
    monkeypatch.setattr(Machine, "request_switch", late)
    assert main(["run", str(program)]) == 0
    assert capfd.readouterr().out == "8000000 of 8000000\n"


ENDER = r"""
#include <pthread.h>
#include <twz.h>
long end_inner(long result) { pthread_exit((void *)result); return 0; }
TWZ_GATE(end_inner);
"""
RELAY = r"""
#include <twz.h>
long end_inner(long result);
long end_through(long result) { return end_inner(result) + 1; }
TWZ_GATE(end_through);
"""
JOINER = r"""
#include <pthread.h>
#include <stdio.h>
long end_inner(long);
long end_through(long);
static __thread long mine = 1;
static void *direct(void *arg) { mine = 2; end_inner((long)arg); return 0; }
static void *nested(void *arg) { mine = 3; end_through((long)arg); return 0; }
int main(void) {
    void *result;
    pthread_t t;
    for (int round = 0; round < 2; round++) {
        pthread_create(&t, 0, direct, (void *)7L);
        int joined = pthread_join(t, &result);
        printf("joined %d, result %ld\n", joined, (long)result);
        pthread_create(&t, 0, nested, (void *)9L);
        joined = pthread_join(t, &result);
        printf("joined %d, result %ld\n", joined, (long)result);
    }
    printf("main's own %ld\n", mine);
    return 0;
}
"""


def test_a_thread_that_ends_inside_a_gate_is_joined_at_home_with_its_result(tmp_path: Path) -> None:
    """A thread calls pthread_exit inside another compartment's gate, directly or two crossings deep: its crossings
    unwind, it ends through its home C library's pthread_exit with the same result, and pthread_join in the program
    returns it, again and again (the join waited forever: the program's C library never saw the thread end)."""
    build(tmp_path, "ender", ENDER, "-shared")
    build(tmp_path, "relay", RELAY, "-shared", "-L.", "-lender")
    build(tmp_path, "joiner", JOINER, "-L.", "-lender", "-lrelay")
    done = run("--timeout", "20", str(tmp_path / "joiner"))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "joined 0, result 7\njoined 0, result 9\n" * 2 + "main's own 1\n"


def test_a_thread_pool_c11_threads_a_barrier_and_thread_attributes_as_glibc(tmp_path: Path) -> None:
    """guests/threads/pool.c: a pool of workers on condition variables, C11 threads whose thread-specific data is
    destroyed, a barrier's serial thread, pthread_getattr_np of the first thread (musl walks down its stack with
    mremap probes: it looped forever on ENOMEM) and pthread_setname_np/getname_np (prctl): as glibc prints it."""
    build(tmp_path, "pool", (ROOT / "guests/threads/pool.c").read_text())
    done = run("--timeout", "60", str(tmp_path / "pool"))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == native(tmp_path, "pool")
