"""Threads: the monitor creates them (``clone``), parks them (futexes, sleeps, a compartment's initialisers another
thread runs), switches among them and ends them.

A thread has, in every compartment it enters, a part of its own (``CompartmentBuilder.thread_part``): a stack with
an unmapped guard page below it, a thread area (TCB and static TLS; in the compartment that created it, the one its
C library laid out), a page of thread information (its id, its caller inside a gate; the gs base) and a gate
buffer. The first thread has its part everywhere from the start; a later one gets its part in the monitor and in
its home compartment when it is created, and in any other compartment on its first crossing there, where the
compartment's runtime (``__twz_thread_begin``) then makes it its own. Each thread has its own crossing stack and
engine records (``machine.engine.EngineThread``), so no thread ever runs with another's page tables, stack or gate
buffer.

Scheduling is a round robin over the runnable threads. A switch happens when the running thread waits, yields or
ends, and — once more than one thread could run — when its quantum is over. By default the quantum is
``DEFAULT_PERIOD`` of the host's time, from a timer thread (``Machine.preempt_every``): no hook runs, so threads
compute at full speed, but no two runs interleave alike. ``--quantum N`` (and ``--schedule-seed``) counts guest
instructions instead, a translated block at a time in the crossing engine's block hook: the same schedule on every
run, at the price of a call per block. Runs under a debugger count too, and so does an engine where a stop from
another thread could not be made exact (``Machine.can_preempt``: Unicorn 2.1.4 may otherwise run an instruction
twice, unicorn #1355). A thread that waits
is parked inside the monitor's system-call service (its ``syscall`` done, its result written when it is woken).
When every live thread waits for something only another could bring, the run ends with ``twzemu: deadlock:``,
naming each thread and what it waits for (status 134).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..linker.link import LinkedCompartment
from ..linker.lookup import exports_of
from ..linker.symbols import Symbolizer
from ..machine.cpustate import RAX, RDI, RSP
from ..machine.engine import EngineThread
from ..machine.fastpath import CpuRecord
from ..machine.machine import Machine
from ..mmu.space import Access
from ..security.ids import MONITOR, PROGRAM
from .compartments import CompartmentBuilder
from .crossing import Client, CompartmentState, Crossings
from .layout import FIRST_THREAD, MAX_THREADS, gate_buffer_of, stack_bounds, thread_info_of
from .syscalls import PATH_MAX, read_string

if TYPE_CHECKING:
    import random

DEFAULT_PERIOD = 0.005  # the host's seconds a thread runs before another's turn, by default
DEFAULT_QUANTUM = 1_000_000  # instructions, where they are counted and no --quantum says how many (about 1 ms)
NO_QUANTUM = 1 << 62  # the budget while one thread could run
THREAD_CREATORS = frozenset({"pthread_create", "thrd_create", "clone", "__clone"})
SLEEP_SLICE = 0.05  # while every thread sleeps: how long the host sleeps before looking at the run's deadline
THREAD_BEGIN = "__twz_thread_begin"  # the runtime's function that makes a thread that began elsewhere its own
THREAD_EXIT = "pthread_exit"  # what a thread that ended in another compartment does at home

EAGAIN, EFAULT, EINTR, EINVAL, ENOSYS, ESRCH, ETIMEDOUT = 11, 14, 4, 22, 38, 3, 110
SIGCANCEL = 33  # musl's thread cancellation signal
CLONE_VM, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID = 0x100, 0x80000, 0x100000, 0x200000
CLONE_THREAD = 0x10000
FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE = 0, 1, 3
PR_SET_NAME, PR_GET_NAME = 15, 16
NAME_LENGTH = 15  # a thread's name, without its NUL (TASK_COMM_LEN - 1)
FUTEX_COMMAND = 0x7F  # the rest: FUTEX_PRIVATE_FLAG (all of a run's futexes are its own), FUTEX_CLOCK_REALTIME
TIMESPEC = struct.Struct("<qq")
U32 = struct.Struct("<I")
SYSCALL_LENGTH = 2  # 0f 05
START_WORDS = 3  # what __clone leaves on the new thread's stack: its return address, the argument, the function


class Waiting:
    """What a parked thread waits for: a futex (its physical address), a time (``deadline``, monotonic), or a
    compartment's initialisers; ``timeout`` is its result if the deadline comes first."""

    __slots__ = ("deadline", "key", "timeout", "what")

    def __init__(self, what: str, key: object = None, deadline: float | None = None, timeout: int = 0) -> None:
        self.what = what
        self.key = key
        self.deadline = deadline
        self.timeout = timeout


class Thread:
    """One guest thread: its id (``T<id>``), its number among the threads alive (``index``), its engine tables, its
    registers while another runs, and what it waits for."""

    __slots__ = ("clear", "ended", "engine", "home", "id", "index", "name", "result", "retry", "waiting")

    def __init__(self, thread_id: int, index: int, engine: EngineThread, home: int, name: bytes) -> None:
        self.id = thread_id
        self.name = name  # prctl(PR_SET_NAME): at most 15 bytes; the program's name, or its creator's, at first
        self.index = index
        self.home = home  # the compartment it began in (whose C library created it)
        self.engine = engine  # its tables, and its registers while another thread runs
        self.waiting: Waiting | None = None
        self.result: int | None = None  # what its parked system call returns (written into rax when it runs)
        self.clear: dict[int, int] = {}  # compartment -> the word set_tid_address named there (zeroed at its end)
        self.ended = False
        self.retry = -1  # parked until another thread had a turn after this one (then its system call runs again)


@dataclass(frozen=True, slots=True)
class Schedule:
    """How threads take turns while several could run: ``instructions`` guest instructions each (counted a translated
    block at a time: the same schedule on every run), or, without, ``DEFAULT_PERIOD`` of the host's time; with
    ``seed``, the next thread and each quantum's length (1 to twice ``instructions``) are drawn from a generator
    seeded with it, so seeds explore interleavings and one seed replays its own."""

    instructions: int | None = None
    seed: int | None = None

    @classmethod
    def of(cls, instructions: int | None, seed: int | None) -> Schedule:
        """``--quantum N`` and ``--schedule-seed S`` (a seed counts instructions: ``DEFAULT_QUANTUM`` unless N)."""
        return cls(instructions or (DEFAULT_QUANTUM if seed is not None else None), seed)


@dataclass(frozen=True, slots=True)
class ThreadView:
    """A live thread as a debugger lists it: its id, the compartment it is in, whether it runs now; and, for one
    that does not, the registers it stopped with (general, rip, rflags, fs and gs bases)."""

    id: int
    compartment: str
    running: bool
    registers: tuple[int, ...] = ()  # rax..r15 (x86 order), rip, rflags, fs_base, gs_base


@dataclass(frozen=True, slots=True)
class ThreadCall:
    """A system call the threads serve: ``None`` as a result parks the caller (its result comes when woken)."""

    number: int
    handler: Callable[[Client, tuple[int, ...]], int | None]


class Threads:
    """Every thread of a run and the scheduler: ``machine.on_switch`` is ``switch``; ``calls`` are its system calls."""

    def __init__(
        self,
        machine: Machine,
        crossings: Crossings,
        builder: CompartmentBuilder,
        linked: tuple[LinkedCompartment, ...],
        symbols: Symbolizer,
        deadlock: Callable[[str], None],
        schedule: Schedule = Schedule(),
    ) -> None:
        self.machine = machine
        self.crossings = crossings
        self.engine = crossings.engine
        self.builder = builder
        self.states: Mapping[int, CompartmentState] = crossings.compartments
        self.symbols = symbols
        self.deadlock = deadlock
        self.schedule = schedule
        self._random = None if schedule.seed is None else _generator(schedule.seed)
        # Instructions per quantum; None: the host's time. A debugger's run counts (its stops are exact and each
        # resume replays the same schedule), as does an engine another thread cannot stop exactly.
        self._quantum = schedule.instructions
        if self._quantum is None and (machine.debugger is not None or not machine.can_preempt):
            self._quantum = DEFAULT_QUANTUM
        self._begin: dict[int, int] = {}  # compartment -> its runtime's THREAD_BEGIN
        self._exits: dict[int, int] = {}  # compartment -> its runtime's THREAD_EXIT
        for compartment in linked:
            self.add_compartment(compartment)
        first = self.engine.running
        assert first is not None
        program = Path(linked[0].libraries[0].name).name.encode("utf-8", "surrogateescape")
        self.running = Thread(FIRST_THREAD, 0, first, PROGRAM, program[:NAME_LENGTH])
        self.threads: dict[int, Thread] = {FIRST_THREAD: self.running}
        self._runnable: deque[Thread] = deque()
        self._futexes: dict[int, deque[Thread]] = {}
        self._waiting: dict[Thread, None] = {}  # in the order they began to wait (a schedule replays exactly)
        self._next_id = FIRST_THREAD + 1
        self._turns = 0  # how many times a thread was given the CPU
        self._free = list(range(MAX_THREADS - 1, 0, -1))  # thread numbers not in use, the lowest last
        self._preempting = False
        machine.set_gs_base(thread_info_of(0))
        machine.on_switch = self.switch
        crossings.threads = self
        # A program that may create threads counts its instructions from its first one (turned on later, the counter
        # has every block translated again: dearer than counting the start-up); one that cannot runs at full speed,
        # and gets the counter when a thread appears anyway (clone by hand, dlopen).
        if self._quantum is not None and any(_creates_threads(c) for c in linked):
            self.machine.set_budget(NO_QUANTUM)
            self.machine.count_instructions(True)

    @property
    def calls(self) -> tuple[ThreadCall, ...]:
        return (
            ThreadCall(56, self._clone),
            ThreadCall(60, self._exit),
            ThreadCall(202, self._futex),
            ThreadCall(24, self._yield),
            ThreadCall(218, self._set_tid_address),
            ThreadCall(200, self._tkill),
            ThreadCall(157, self._prctl),
        )

    @property
    def alone(self) -> bool:
        """Whether the running thread is the only one alive."""
        return len(self.threads) == 1

    def end_others(self) -> None:
        """The program is exiting: every thread but the running one ends now (as exit_group ends them)."""
        for thread in [t for t in self.threads.values() if t is not self.running]:
            thread.ended = True
            self._wake(thread, None)
            self._runnable = deque(t for t in self._runnable if t is not thread)
            del self.threads[thread.id]
            self.engine.forget_thread(thread.engine)
            self.crossings.forget_thread(thread.id)
        self._preempt()

    def enter(self, state: CompartmentState) -> int | None:
        """Give the running thread its part in ``state`` if it has none (the monitor calls a finaliser there on
        it): where the runtime must make it its own first, that function's address."""
        if self.engine.is_set_up(state.id):
            return None
        self.set_up(state)
        return self.begin_entry(state)

    def views(self) -> list[ThreadView]:
        """Every live thread, by id (``ThreadView``)."""
        views = []
        for thread in sorted(self.threads.values(), key=lambda t: t.id):
            running = thread is self.running
            current = self.engine.current if running else thread.engine.record.current
            state = self.states.get(current)
            name = state.name if state is not None else "monitor"
            registers: tuple[int, ...] = ()
            if not running:
                saved = CpuRecord.from_buffer(thread.engine.registers)
                registers = (*saved.gpr, saved.rip, saved.rflags, saved.fs_base, saved.gs_base)
            views.append(ThreadView(thread.id, name, running, registers))
        return views

    def add_compartment(self, compartment: LinkedCompartment) -> None:
        """Where ``compartment``'s runtime makes a thread that began elsewhere its own, and ends one that ends
        elsewhere (for the link's compartments, and those made at run time)."""
        for entries, name in ((self._begin, THREAD_BEGIN), (self._exits, THREAD_EXIT)):
            entry = _runtime_entry(compartment, name)
            if entry is not None:
                entries[compartment.id] = entry

    def by_index(self, index: int) -> Thread | None:
        """The live thread numbered ``index``."""
        return next((thread for thread in self.threads.values() if thread.index == index), None)

    # -- what the crossings ask (crossing.ThreadParts) ---------------------------------------------------------

    def index(self) -> int:
        return self.running.index

    def set_up(self, state: CompartmentState) -> None:
        thread = self.running
        part = self.builder.thread_part(state, thread.index, thread.id, None)
        self.engine.set_up(thread.engine, state.id, part)

    def begin_entry(self, state: CompartmentState) -> int | None:
        return self._begin.get(state.id)

    def wait_for_initialisation(self, state: CompartmentState, initialising: int) -> None:
        """From the fault hook of the thread's gate entry (not a system call): it resumes at the gate's entry, and
        enters then."""
        waiting = Waiting(f"for {state.name}'s initialisers (T{initialising} runs them)", ("init", state.id))
        self._park(waiting, None, in_syscall=False)

    def initialised(self, state: CompartmentState) -> None:
        for thread in [t for t in self._waiting if t.waiting is not None and t.waiting.key == ("init", state.id)]:
            self._wake(thread, None)

    # -- system calls --------------------------------------------------------------------------------------------

    def _clone(self, client: Client, args: tuple[int, ...]) -> int | None:
        """A thread (``CLONE_VM | CLONE_THREAD``; no process is ever created) that starts in the caller's
        compartment as if its ``__twz_syscall`` returned 0 on the new stack: the words __clone left there move to
        the top of its own stack in that compartment (below it, its guard page)."""
        flags, stack, parent_tid, child_tid, tls = args[:5]
        if flags & (CLONE_VM | CLONE_THREAD) != CLONE_VM | CLONE_THREAD:
            return -ENOSYS
        if not self._free:
            return -EAGAIN
        home = self.states.get(client.id)
        if home is None or not client.space.user_may(stack, START_WORDS * 8, Access.READ):
            return -EFAULT
        if flags & CLONE_PARENT_SETTID and not client.space.user_may(parent_tid, 4, Access.WRITE):
            return -EFAULT
        if flags & CLONE_SETTLS and not home.space.user_may(tls, 16, Access.WRITE):
            return -EFAULT  # a thread pointer is the compartment's own memory (its libc's thread descriptor)
        words = client.space.read_virtual(stack, START_WORDS * 8)
        index, thread_id = self._free.pop(), self._next_id
        self._next_id += 1
        pointers = ((self.states[MONITOR], None), (home, tls if flags & CLONE_SETTLS else None))
        parts = [(state, self.builder.thread_part(state, index, thread_id, pointer)) for state, pointer in pointers]
        _, top = stack_bounds(home.id, index)
        home.space.write_virtual(top - len(words), words)
        (rip,) = struct.unpack_from("<Q", words)
        registers = self.machine.thread_registers(rip, top - len(words) + 8, parts[1][1].thread_pointer,
                                                  thread_info_of(index))  # fmt: skip
        engine = self.engine.new_thread(thread_id, gate_buffer_of(index), registers)
        for state, part in parts:
            self.engine.set_up(engine, state.id, part)
        self.engine.start_in(engine, home.id)
        thread = Thread(thread_id, index, engine, home.id, self.running.name)
        if flags & CLONE_CHILD_CLEARTID:
            thread.clear[home.id] = child_tid
        if flags & CLONE_PARENT_SETTID:
            client.space.write_virtual(parent_tid, U32.pack(thread_id))
        self.threads[thread_id] = thread
        self._runnable.append(thread)
        self._preempt()
        return thread_id

    def _exit(self, client: Client, args: tuple[int, ...]) -> int | None:
        """The running thread ends (the program, with its last thread: with this status): the word each
        compartment named with set_tid_address is zeroed and its waiters woken (musl's pthread_exit keeps its
        thread-list lock until then). A thread that ends inside another compartment's gate (its C library there
        ran pthread_exit) goes back home first, and ends there through its home C library's pthread_exit with the
        same result (``args[1]``), so that a thread joining it there sees it end."""
        thread = self.running
        address = thread.clear.get(client.id, 0)  # the lock musl's pthread_exit keeps is that compartment's own
        space = self.states[client.id].space if client.id in self.states else None
        if address and space is not None and space.user_may(address, 4, Access.WRITE):
            space.write_virtual(address, U32.pack(0))
            self._wake_futex(space.physical(address), 1)
        if client.id != thread.home and self._end_at_home(thread, args[1]):
            return None
        thread.ended = True
        self.crossings.thread_ended(thread.id)
        del self.threads[thread.id]
        self._free.append(thread.index)
        if not self.threads:
            self.machine.exit(args[0] & 0xFF)
            return None
        self._leave()
        return None

    def _end_at_home(self, thread: Thread, result: int) -> bool:
        """``thread``'s crossings unwound, it calls its home C library's ``pthread_exit(result)`` (False: it has no
        C library at home, or it is inside one of the monitor's own calls: it ends here)."""
        exit_home = self._exits.get(thread.home)
        if exit_home is None or not self.crossings.return_home():
            return False
        home = self.states[thread.home]
        rsp = self.machine.register(RSP) - 8  # as if called: a return address (none: pthread_exit does not return)
        if not home.space.user_may(rsp, 8, Access.WRITE):
            return False
        home.space.write_virtual(rsp, bytes(8))
        self.machine.set_register(RSP, rsp)
        self.machine.set_register(RDI, result)
        self.machine.rip = exit_home - SYSCALL_LENGTH  # the syscall hook's return moves it past a `syscall`
        return True

    def _set_tid_address(self, client: Client, args: tuple[int, ...]) -> int:
        self.running.clear[client.id] = args[0]
        return self.running.id

    def _yield(self, client: Client, args: tuple[int, ...]) -> int | None:
        if not self._runnable:
            return 0
        self._runnable.append(self.running)
        self.running.result = 0
        self._switch_to(self._next(), in_syscall=True)
        return None

    def _prctl(self, client: Client, args: tuple[int, ...]) -> int:
        """The running thread's name (PR_SET_NAME, PR_GET_NAME: 16 bytes with the NUL, as Linux keeps it); other
        options are not served (EINVAL)."""
        option, address = args[0], args[1]
        if option == PR_SET_NAME:
            name = read_string(client.space, address, PATH_MAX)
            if isinstance(name, int):
                return name
            self.running.name = name.encode("utf-8", "surrogateescape")[:NAME_LENGTH]
            return 0
        if option == PR_GET_NAME:
            if not client.space.user_may(address, NAME_LENGTH + 1, Access.WRITE):
                return -EFAULT
            client.space.write_virtual(address, self.running.name.ljust(NAME_LENGTH + 1, b"\0"))
            return 0
        return -EINVAL

    def _tkill(self, client: Client, args: tuple[int, ...]) -> int:
        """A signal to another thread (the runtime delivers a thread's own): 0 asks whether it lives; musl's
        cancellation signal interrupts what it waits for (its call returns EINTR, and its next cancellation point
        acts on the request musl recorded); any other is not delivered (ENOSYS)."""
        thread_id, signal = args[0], args[1]
        thread = self.threads.get(thread_id)
        if thread is None:
            return -ESRCH
        if signal == SIGCANCEL:
            waiting = thread.waiting  # a futex or a sleep (not a compartment's initialisers, not a retried call)
            if waiting is not None and thread.retry < 0 and not isinstance(waiting.key, tuple):
                self._wake(thread, -EINTR)
            return 0
        return 0 if signal == 0 else -ENOSYS

    def _futex(self, client: Client, args: tuple[int, ...]) -> int | None:
        address, operation, value, timeout, second = args[:5]
        command = operation & FUTEX_COMMAND
        if command not in (FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE):
            return -ENOSYS
        if address & 3 or not client.space.user_may(address, 4, Access.READ):
            return -EFAULT
        key = client.space.physical(address)
        if command == FUTEX_WAKE:
            return self._wake_futex(key, value)
        if command == FUTEX_REQUEUE:
            if second & 3 or not client.space.user_may(second, 4, Access.READ):
                return -EFAULT
            return self._requeue(key, client.space.physical(second), value, timeout, self._futex_what(client, second))
        (current,) = U32.unpack(client.space.read_virtual(address, 4))
        if current != value & 0xFFFFFFFF:
            return -EAGAIN
        deadline = None
        if timeout:
            if not client.space.user_may(timeout, TIMESPEC.size, Access.READ):
                return -EFAULT
            seconds, nanoseconds = TIMESPEC.unpack(client.space.read_virtual(timeout, TIMESPEC.size))
            if seconds < 0 or not 0 <= nanoseconds < 10**9:
                return -EINVAL
            deadline = time.monotonic() + seconds + nanoseconds / 1e9
        self._park(Waiting(self._futex_what(client, address), key, deadline, -ETIMEDOUT), key)
        return None

    def _futex_what(self, client: Client, address: int) -> str:
        return f"on futex {self.symbols.name(address)} ({address:#x}) in {client.name}"

    def retry_later(self, what: str) -> bool:
        """A system call that cannot go on before another thread does something (an empty pipe's read): unless the
        running thread is alone, it is parked, and made again once another thread had a turn (False: alone)."""
        if self.alone:
            return False
        self.running.retry = self._turns
        self._park(Waiting(what), None)
        return True

    def sleep_until(self, end: float) -> int | None:
        """A sleep until ``end`` (monotonic): the other threads run meanwhile (None: the result comes at the end)."""
        self._park(Waiting("for the time to pass", None, end, 0), None)
        return None

    # -- parking and waking ------------------------------------------------------------------------------------

    def _park(self, waiting: Waiting, futex: int | None, in_syscall: bool = True) -> None:
        thread = self.running
        thread.waiting = waiting
        self._waiting[thread] = None
        if futex is not None:
            self._futexes.setdefault(futex, deque()).append(thread)
        self._leave(in_syscall)

    def _leave(self, in_syscall: bool = True) -> None:
        """In a system call (or, not ``in_syscall``, a fault's hook): the running thread cannot go on (it waits, or
        ended). Another runnable thread runs at once (the switch happens inside the hook); with none, the run loop
        waits for one (or reports the deadlock)."""
        self._expire(time.monotonic())
        if self._runnable:
            self._switch_to(self._next(), in_syscall)
        else:
            self.machine.request_switch()

    def _wake(self, thread: Thread, result: int | None) -> None:
        waiting = thread.waiting
        if waiting is None:
            return
        if isinstance(waiting.key, int):
            queue = self._futexes.get(waiting.key)
            if queue is not None and thread in queue:
                queue.remove(thread)
                if not queue:
                    del self._futexes[waiting.key]
        thread.waiting = None
        thread.result = result
        self._waiting.pop(thread, None)
        if thread is not self.running:
            self._runnable.append(thread)
            self._preempt()

    def _wake_futex(self, key: int, count: int) -> int:
        queue = self._futexes.get(key)
        woken = 0
        while queue and woken < count:
            self._wake(queue[0], 0)
            woken += 1
        return woken

    def _requeue(self, key: int, target: int, wake: int, move: int, what: str) -> int:
        """Wake ``wake`` waiters of ``key`` and move up to ``move`` of the others to ``target`` (onto itself:
        nothing moves)."""
        woken = self._wake_futex(key, wake)
        queue = self._futexes.get(key)
        if target == key or queue is None:
            return woken
        moved = 0
        while queue and moved < move:
            thread = queue.popleft()
            assert thread.waiting is not None
            thread.waiting.key, thread.waiting.what = target, what
            self._futexes.setdefault(target, deque()).append(thread)
            moved += 1
        if queue is not None and not queue:
            del self._futexes[key]
        return woken

    def _expire(self, now: float) -> None:
        """Wake the threads whose deadline passed, and those to try again whose turn came."""
        for thread in list(self._waiting):
            waiting = thread.waiting
            assert waiting is not None
            if waiting.deadline is not None and waiting.deadline <= now:
                self._wake(thread, waiting.timeout)
            elif 0 <= thread.retry < self._turns:
                self._wake(thread, None)

    # -- switching --------------------------------------------------------------------------------------------

    def switch(self) -> bool:
        """Run the next runnable thread (``Machine.on_switch``); while none is, wait for the earliest deadline.
        False when the run is to stop: every thread waits for what none of them can bring, or the machine stops."""
        current = self.running
        self._expire(time.monotonic())
        while True:
            if current.waiting is None and not current.ended:
                if not self._runnable:
                    return self._go_on(current)
                self._runnable.append(current)
            if self._runnable:
                return self._switch_to(self._next())
            deadlines = [t.waiting.deadline for t in self._waiting if t.waiting and t.waiting.deadline is not None]
            if not deadlines:
                self.deadlock("; ".join(f"T{t.id} waits {t.waiting.what}" for t in self._waiting_in_order()))
                return False
            if self.machine.stopping:
                return False
            time.sleep(max(0.0, min(min(deadlines) - time.monotonic(), SLEEP_SLICE)))
            self._expire(time.monotonic())

    def _next(self) -> Thread:
        """The runnable thread whose turn it is: the first in line, or one drawn from the seeded generator."""
        if self._random is None:
            return self._runnable.popleft()
        chosen = self._runnable[self._random.randrange(len(self._runnable))]
        self._runnable.remove(chosen)
        return chosen

    def _waiting_in_order(self) -> list[Thread]:
        return sorted((t for t in self._waiting if t.waiting is not None), key=lambda t: t.id)

    def _go_on(self, thread: Thread) -> bool:
        """``thread`` runs from here: its parked call's result, and a fresh quantum under --quantum."""
        thread.retry = -1
        self._fresh_quantum()
        if thread.result is not None:
            self.machine.set_register(RAX, thread.result)
            thread.result = None
        return True

    def _switch_to(self, thread: Thread, in_syscall: bool = False) -> bool:
        """Run ``thread`` from now on: the engine's tables (and page tables) and the registers are its own. In a
        system call's hook (``in_syscall``) the switch happens there and then, and the call returns nothing."""
        previous = self.running
        self._turns += 1
        if thread is previous:
            if previous.retry >= 0:  # back to its `syscall`, to make the call again
                self.machine.rip -= SYSCALL_LENGTH
            return self._go_on(thread)
        self.engine.switch(thread.engine, in_syscall, previous.ended)
        if previous.retry >= 0:  # back to its `syscall`, to make the call again when woken
            CpuRecord.from_buffer(previous.engine.registers).rip -= SYSCALL_LENGTH
        self.running = thread
        if previous.ended:
            self.engine.forget_thread(previous.engine)
            self.crossings.forget_thread(previous.engine.number)
        self._preempt()
        return self._go_on(thread)

    def _fresh_quantum(self) -> None:
        instructions = self._quantum
        if instructions is None:
            return  # the timer's period runs on
        random_ = self._random
        self.machine.set_budget(instructions if random_ is None else random_.randint(1, 2 * instructions))

    def _preempt(self) -> None:
        """The quantum runs from the moment a second thread could run until one thread is left."""
        if self._preempting:
            wanted = len(self.threads) > 1
        else:
            wanted = len(self._runnable) + (self.running.waiting is None and not self.running.ended) > 1
        if wanted == self._preempting:
            return
        self._preempting = wanted
        if self._quantum is None:
            self.machine.preempt_every(DEFAULT_PERIOD if wanted else None)
            return
        if wanted:
            self._fresh_quantum()  # the running thread's first quantum starts now
            # on from then to the end (turned on late, it has every block translated again, once)
            self.machine.count_instructions(True)
        else:
            self.machine.set_budget(NO_QUANTUM)


def _generator(seed: int) -> random.Random:
    import random  # only a seeded schedule needs it (it costs a run's start-up a few milliseconds)

    return random.Random(seed)


def _creates_threads(compartment: LinkedCompartment) -> bool:
    """Whether a library of ``compartment`` but its C library calls a function that creates a thread."""
    return any(
        symbol.name in THREAD_CREATORS and not symbol.defined
        for library in compartment.libraries
        for symbol in library.info.symbols
    )


def _runtime_entry(compartment: LinkedCompartment, name: str) -> int | None:
    """The compartment's runtime's function ``name`` (``__twz_thread_begin``, ``pthread_exit``), if its initialisers
    are among the compartment's (a compartment whose libraries need no C library never starts one: nothing there to
    make a thread its own)."""
    for library in compartment.libraries:
        symbol = exports_of(library.info).get(name)
        if symbol is not None and any(library.loaded.contains(entry) for entry in compartment.init):
            return library.base + symbol.value
    return None
