"""The monitor: links a program and its libraries into compartments and runs it on the machine.

``Monitor.run(path, argv)`` in steps:

1. read, validate and link the program and its libraries (``linker.Linker``) — before any CPU exists, so
   bad input and link errors cost nothing;
2. boot a ``Machine`` and build a ``Run`` on it (``Run.start`` numbers its own steps): every compartment in its
   own page tables (``compartments``), the grants the trust table makes, the crossing engine's tables, the
   isolated compartments' initialisers, the startup block;
3. run from ``_start`` with rdi = the startup block and every other register zero;
4. after a normal exit, the isolated compartments' finalisers;
5. turn the stop into an exit status (DESIGN.md "Guest ABI"): the guest's code, 139 for a fault that kills the
   program (with its one-line report), 124 on timeout, 130 on Ctrl-C.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from ..cache import DerivedCache
from ..elf.callsites import return_sites
from ..elf.gates import read_gate_records
from ..elf.image import ElfImage
from ..errors import TwzEmuError, UsageError
from ..linker.link import GateBinding, IsolationPolicy, LinkedCompartment, LinkedProgram, Linker, LoadedLater
from ..linker.search import LibrarySearch
from ..linker.symbols import Region, Symbolizer
from ..loader import LoadedImage, slot_base
from ..machine.cpustate import RDI, RSP
from ..machine.disasm import instruction_at
from ..machine.engine import Lifecycle, Refusal
from ..machine.events import Fault, Stop, StopReason
from ..machine.machine import DEFAULT_RAM, KERNEL_BASE, Machine
from ..machine.x86 import Vector
from ..mmu.pte import Prot
from ..mmu.space import NULL_PAGE_SIZE, SLOT_OFFSET_MASK, SLOT_SHIFT, AddressSpace
from ..objects.store import ObjectStore
from ..sdk import RUNTIME_LIBRARY
from ..security.check import AccessKind, Verdict, ViolationRule, decide
from ..security.gates import Gate, GateTable, IsolationLevel
from ..security.ids import MONITOR as MONITOR_COMPARTMENT
from ..security.ids import PROGRAM as PROGRAM_COMPARTMENT
from ..security.ids import CompartmentId
from ..security.levels import compartment_rules
from ..toolchain import Toolchain
from .compartments import CompartmentBuilder
from .crossing import CompartmentState, Crossings
from .dynload import DynamicLoading
from .files import Files, Mount
from .hypercalls import Hypercalls
from .layout import FIRST_THREAD, GATE_BUFFER, GATE_BUFFER_SLOT, MONITOR_TEXT_SLOT, guarded_stack
from .objects import Grant, GuestObjects
from .observe import CrossingObserver, TextTrace
from .report import STATUS_INTERRUPTED, STATUS_KILLED, STATUS_TIMEOUT, describe_fault, describe_verdict, one_line
from .services import MonitorText, build_monitor_text
from .startup import build_startup, host_environment
from .syscalls import SystemCalls
from .threads import Schedule, Threads

DEADLOCK_STATUS = 134  # a run that can never go on ends as an abort would


@dataclass(frozen=True, slots=True)
class RunResult:
    status: int
    stop: Stop
    message: str | None  # the one-line report printed for a fault, timeout or interrupt


@dataclass(frozen=True, slots=True)
class LoadedProgram:
    image: LoadedImage
    space: AddressSpace


class Monitor:
    """Owns the object store, the guest's output streams and the run options; each ``run`` boots a fresh
    machine and builds a fresh ``Run`` on it."""

    def __init__(
        self,
        store: ObjectStore,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
        stdin: BinaryIO | None = None,
        ram_size: int = DEFAULT_RAM,
        verbose: bool = False,
        library_dirs: Sequence[Path] = (),
        environment: Mapping[str, str] | None = None,
        policy: IsolationPolicy | None = None,
        caller_levels: Mapping[str, IsolationLevel] | None = None,
        trace: TextIO | None = None,
        observers: Sequence[CrossingObserver] = (),
        mounts: Sequence[Mount] = (),
        schedule: Schedule | None = None,
        grants: Sequence[Grant] = (),
    ) -> None:
        self.store = store
        self.grants = tuple(grants)  # --grant COMPARTMENT=NAME:PERMS
        self.schedule = schedule or Schedule()  # how threads take turns (--quantum, --schedule-seed)
        self.stdout = stdout or sys.stdout.buffer
        self.stderr = stderr or sys.stderr.buffer
        self.stdin = stdin if stdin is not None else sys.stdin.buffer  # what the guest reads from fd 0
        self.ram_size = ram_size
        self.verbose = verbose
        self.library_dirs = tuple(library_dirs)
        self.environment = host_environment() if environment is None else dict(environment)
        # who watches crossings: the text trace (--trace) and any other observer (--trace-json, --graph)
        self.observers: tuple[CrossingObserver, ...] = (*([TextTrace(trace)] if trace else []), *observers)
        self.policy = policy or IsolationPolicy()
        self.mounts = tuple(mounts)  # host directories the guest sees (--mount)
        self.caller_levels = dict(caller_levels or {})  # --caller-isolation NAME=LEVEL
        self._monitor_text: MonitorText | None = None
        self.linker: Linker | None = None  # the last link's, for what its run loads later
        self.last_run: Run | None = None  # the latest run's state, for tests that look inside
        # Called with each run's machine and program before anything runs on it (a debugger attaches here).
        self.on_machine: Callable[[Machine, LinkedProgram], None] | None = None

    def run(self, path: str, argv: Sequence[str] = (), timeout: float | None = None) -> RunResult:
        return self.run_linked(self.link(path), path, argv, timeout)

    def run_linked(self, linked: LinkedProgram, path: str, argv: Sequence[str] = (), timeout: float | None = None,
                   inspect: Callable[[Run], None] | None = None) -> RunResult:  # fmt: skip
        """Run ``linked`` (``link``'s result) as ``path`` with ``argv``; ``inspect`` sees the run once it stopped,
        before its machine goes."""
        for warning in linked.warnings:
            self.stderr.write(f"twzemu: warning: {one_line(warning)}\n".encode())
        deadline = None if timeout is None else time.monotonic() + timeout  # one limit for init, main and fini
        try:
            with Machine(self.ram_size) as machine:
                if self.on_machine is not None:
                    self.on_machine(machine, linked)
                run = self.start(machine, linked, [path, *argv], deadline)
                stop = run.early_stop or machine.run(linked.entry, _remaining(deadline))
                if stop.reason is StopReason.EXIT:
                    stop = run.finish(deadline) or stop
                run.files.close_all()
                run.objects.write_back()
                result = run.result(stop, timeout)
                if inspect is not None:
                    inspect(run)
            if result.message is not None:
                self.stderr.write(one_line(result.message).encode() + b"\n")
                self.stderr.flush()
                for observer in self.observers:
                    observer.reported(result.message, run.culprit(stop))
            return result
        finally:  # however the run ends (Ctrl-C between runs of the machine too), what observers write is whole
            for observer in self.observers:
                observer.finished()

    def link(self, path: str, preload: Sequence[str] = ()) -> LinkedProgram:
        """Link the program at ``path`` (and ``preload``: libraries loaded as if it needed them)."""
        cache = DerivedCache.beside(self.store.path)  # what is read from the images, kept for the next run
        program = ElfImage.open(path, cache)
        search = LibrarySearch.for_program(
            Path(path), self.library_dirs, self._runtime_dir(), self.store, RUNTIME_LIBRARY, cache
        )
        self._monitor_text = build_monitor_text(self.store)
        linker = Linker(search, self.store, self.policy, self._monitor_text.gates, preload)
        linked = linker.link(program, path)
        self.linker = linker  # a run loads more with it (dlopen)
        self._check_compartments("--caller-isolation", self.caller_levels, linked, search)
        self._check_compartments("--grant", [grant.compartment for grant in self.grants], linked, search)
        return linked

    def start(self, machine: Machine, linked: LinkedProgram, argv: Sequence[str], deadline: float | None = None) -> Run:
        """Build every compartment of ``linked`` on ``machine``, run the isolated ones' initialisers, and make
        the machine ready to run the program from ``_start`` — unless an initialiser ended the run
        (``Run.early_stop``: it exited, or the deadline passed, or Ctrl-C)."""
        if self._monitor_text is None:
            self._monitor_text = build_monitor_text(self.store)
        run = Run(self, machine, linked, self._monitor_text)
        self.last_run = run
        run.start(argv, deadline)
        return run

    def caller_level(self, compartment: LinkedCompartment) -> IsolationLevel:
        """The level ``--caller-isolation`` gives ``compartment`` (by any of its ``caller_names``), else none."""
        for key in caller_names(compartment):
            if key in self.caller_levels:
                return self.caller_levels[key]
        return IsolationLevel.NONE

    def _check_compartments(self, option: str, names: Iterable[str], linked: LinkedProgram,
                            search: LibrarySearch) -> None:  # fmt: skip
        """Every NAME of ``option`` (``--caller-isolation NAME=…``, ``--grant NAME=…``) names a compartment of
        ``linked``, or a library with gates the search finds (a ``dlopen`` of it makes a compartment): a usage error
        naming each one that does not (before any CPU exists), as ``--isolate NAME`` is."""
        known = ", ".join(compartment.name for compartment in linked.compartments)
        problems = []
        for name in dict.fromkeys(names):
            if any(name in caller_names(compartment) for compartment in linked.compartments):
                continue
            if "::" not in name and _declares_gates(search, name):
                continue
            homes = [
                c.name
                for c in linked.compartments
                if any(name in (lib.name, Path(lib.name).name) for lib in c.libraries)
            ]
            what = "no compartment of that name"
            if homes:
                what = f"a library loaded into {' and '.join(homes)}, not a compartment"
            problems.append(f"{option} {name}: {what} (the compartments: {known})")
        if problems:
            raise UsageError(problems)

    def _runtime_dir(self) -> Path | None:
        try:
            return Toolchain.locate().runtime_dir
        except TwzEmuError:
            return None


class Run:
    """One run of a linked program on one machine: its compartments, crossings and symbols. ``Monitor.start``
    creates it; it is dropped with the machine."""

    def __init__(self, monitor: Monitor, machine: Machine, linked: LinkedProgram, monitor_text: MonitorText) -> None:
        self.monitor = monitor
        self.machine = machine
        self.linked = linked
        self.monitor_text = monitor_text
        self.symbols = Symbolizer()
        self.builder = CompartmentBuilder(machine, monitor.store)
        self.states: dict[CompartmentId, CompartmentState] = {}
        self.gates = GateTable()
        self.crossings: Crossings | None = None
        self.threads: Threads | None = None
        self.loading: DynamicLoading | None = None  # what dlopen loads
        self.added: list[LinkedCompartment] = []  # the compartments dlopen made, in order
        self.early_stop: Stop | None = None  # an initialiser ended the run before the program started
        self.files = Files(monitor.store, monitor.mounts)  # the guest's files (monitor/files.py)
        self._identities: dict[CompartmentId, str] = {}  # who owns a compartment's objects (``_identity``)
        # the guest's objects, names and grants (monitor/objects.py)
        self.objects = GuestObjects(monitor.store, machine, self.builder, self.states, self._names_of,
                                    self._identity, monitor.grants)  # fmt: skip

    # -- steps ------------------------------------------------------------------------------------------

    def start(self, argv: Sequence[str], deadline: float | None = None) -> None:
        """1. map every compartment in its own page tables; 2. grant callers what the trust table lets them see
        of the callees they are bound to; 3. hand the crossing engine its tables; 4. run the isolated
        compartments' initialisers, dependencies first (unless a crossing ran them already); 5. lay out the
        startup block and make the program ready to run from ``_start``."""
        linked, builder = self.linked, self.builder
        for compartment in linked.compartments:
            sites: frozenset[int] = frozenset()
            for library in compartment.libraries:
                self.symbols.add(library.loaded)
                sites |= return_sites(library.loaded.image, library.base)
            init = compartment.init if compartment.id != PROGRAM_COMPARTMENT else ()  # the program's: its _start
            self.states[compartment.id] = builder.compartment(
                compartment, self.monitor.caller_level(compartment), sites, init
            )
        self.states[MONITOR_COMPARTMENT] = builder.monitor(self.monitor_text.text)
        self._name_monitor_objects()
        self._fill_gate_table()
        self._grant_bound_callers()
        monitor = self.monitor
        crossings = Crossings(
            self.machine,
            self.states,
            self.gates,
            monitor.stderr,
            self.violation_line,
            self._pair_space,
            monitor.observers,
        )
        self.crossings = crossings
        note = self._note if monitor.verbose else None
        streams = {1: monitor.stdout, 2: monitor.stderr}
        system_calls = SystemCalls(
            monitor.stdin, self.files, note, streams, lambda: self.machine.stopping, self._deadlock
        )
        hypercalls = self.machine.on_hypercall = Hypercalls(
            monitor.stdout,
            monitor.stderr,
            crossings.client,
            lambda: crossings.gate_buffer,
            crossings.reply,
            system_calls,
        )
        for number, handler in self.objects.services.items():
            hypercalls.serve(number, handler)
        self.threads = Threads(
            self.machine, crossings, builder, linked.compartments, self.symbols, self._deadlock, monitor.schedule
        )
        for call in self.threads.calls:
            system_calls.serve(call.number, call.handler)
        loading = self.loading = DynamicLoading(
            monitor.linker, linked, self.states, builder, crossings.engine, self.symbols, crossings.reply,
            self._libraries_changed, lambda: self.threads.running.id if self.threads else 1,
            lambda what: self.threads is not None and self.threads.retry_later(what), self._add_compartment,
        )  # fmt: skip
        for number, handler in loading.calls.items():
            system_calls.serve(number, handler)
        system_calls.sleep_until = self.threads.sleep_until
        system_calls.retry_later = self.threads.retry_later
        system_calls.thread_id = lambda: self.threads.running.id
        self.machine.on_fault = crossings.on_fault
        self.machine.on_control_transfer = crossings.on_control_transfer
        if monitor.verbose:
            self._describe()
        for compartment in reversed(linked.compartments[1:]):  # dependencies first
            self.early_stop = self._initialise(self.states[compartment.id], deadline)
            if self.early_stop is not None:
                return
        program = self.states[PROGRAM_COMPARTMENT]
        env = [f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in monitor.environment.items()]
        startup = build_startup(
            program.stack_top,
            [a.encode("utf-8", "surrogateescape") for a in argv],
            env,
            linked.init,
            linked.fini,
            PROGRAM_COMPARTMENT,
        )
        program.space.write_virtual(startup.base, startup.data)
        crossings.resume(program)  # from now on only compartment 0's gate code may make hypercalls
        self.machine.set_register(RSP, startup.rsp)
        self.machine.set_register(RDI, startup.rdi)

    @property
    def program(self) -> LoadedProgram:
        return LoadedProgram(self.linked.program.loaded, self.states[PROGRAM_COMPARTMENT].space)

    def _name_monitor_objects(self) -> None:
        for region in self.builder.regions:
            self.symbols.add_region(region)
        self.symbols.add_region(Region("gate buffer", GATE_BUFFER, slot_base(GATE_BUFFER_SLOT + 1)))
        self.symbols.add_region(Region("monitor", slot_base(MONITOR_TEXT_SLOT), slot_base(MONITOR_TEXT_SLOT + 1)))
        for name, gate in self.monitor_text.gates.items():
            self.symbols.add_region(Region(name, gate.entry, gate.end))

    def _fill_gate_table(self) -> None:
        """The gates every compartment exposes, in the security model's table (one dict lookup per entry)."""
        for gate in self.linked.gates:
            self.gates.add(gate)

    def _grant_bound_callers(self) -> None:
        """A caller sees a callee's memory only if it is bound to one of the callee's gates, and every gate of
        the callee it is bound to runs at a level that lets the caller see the callee (``levels``)."""
        self._grant(self.linked.bindings, {gate.name: gate for gate in self.linked.gates})

    def _grant(self, bindings: Iterable[GateBinding], gates: Mapping[str, Gate]) -> None:
        bound: dict[tuple[int, int], list[IsolationLevel]] = {}
        for binding in bindings:
            gate = gates.get(binding.gate)
            if gate is None or gate.owner == binding.caller or binding.caller not in self.states:
                continue
            bound.setdefault((binding.caller, gate.owner), []).append(gate.level)
        for (caller, callee), levels in sorted(bound.items()):
            state = self.states[caller]
            rules = compartment_rules(state.caller_level, levels)
            self.builder.grant_callee(state, callee, rules.caller_prot_on_callee)

    def _add_compartment(self, loaded: LoadedLater, sites: frozenset[int]) -> CompartmentState:
        """A compartment ``dlopen`` made (its library declares gates; ``sites``: its return sites): built as at
        start-up, its gates in the tables, its references to other compartments' gates granted as the trust table
        says. Every thread gets its part of it on its first crossing there; the first runs its initialisers, and the
        runtime makes each later one its own."""
        compartment = loaded.compartment
        crossings, threads = self.crossings, self.threads
        assert compartment is not None and crossings is not None and threads is not None
        regions = len(self.builder.regions)
        state = self.builder.compartment(compartment, self.monitor.caller_level(compartment), sites, compartment.init)
        for region in self.builder.regions[regions:]:
            self.symbols.add_region(region)
        self.states[compartment.id] = state
        crossings.add_compartment(state, loaded.gates)
        threads.add_compartment(compartment)
        self._grant(loaded.bindings, {g.name: g for g in crossings.gates.iter_gates()})
        self.added.append(compartment)
        return state

    def _as_made(self, compartment: CompartmentId) -> LinkedCompartment:
        """``compartment`` as the link or ``dlopen`` made it (without the libraries loaded into it since)."""
        return next(c for c in (*self.linked.compartments, *self.added) if c.id == compartment)

    def _names_of(self, compartment: CompartmentId) -> tuple[str, ...]:
        """What ``--grant`` may call ``compartment`` (``caller_names``; its own name first)."""
        return caller_names(self._as_made(compartment))

    def _identity(self, compartment: CompartmentId) -> str:
        """Who owns the objects ``compartment`` makes: its name and a digest of every image it was made of, by name
        (a library that calls itself by another's soname, a program named like a compartment, or a dependency of
        the same name from elsewhere makes someone else). Libraries it loads later with ``dlopen`` are not in it."""
        known = self._identities.get(compartment)
        if known is None:
            linked = self._as_made(compartment)
            digest = hashlib.sha256()
            for library in sorted(linked.libraries, key=lambda lib: lib.name):
                digest.update(hashlib.sha256(library.loaded.image.data).digest())
            known = self._identities[compartment] = f"{linked.name}@{digest.hexdigest()[:16]}"
        return known

    def _pair_space(self, callee: int, caller: int) -> AddressSpace:
        return self.builder.pair_space(self.states[callee], caller)

    def _initialise(self, state: CompartmentState, deadline: float | None) -> Stop | None:
        """Run the compartment's initialisers in it, unless they ran already. One that faults is reported, and
        the compartment is marked failed: its gates then answer TWZ_EPERM (DESIGN.md "What a violation does");
        the program still runs. One that exits, runs past the deadline or is interrupted ends the run: that stop."""
        crossings = self.crossings
        assert crossings is not None
        if crossings.lifecycle(state) is not Lifecycle.UNINITIALISED:
            return None
        crossings.begin_initialising(state)
        for function in state.init:
            stop = crossings.call(state, function, _remaining(deadline))
            if stop.reason is StopReason.RETURNED:
                continue
            if stop.fault is None or self._on_another_thread():
                return stop  # the run ends: an exit, the deadline, Ctrl-C, or a fault of a thread it started
            crossings.reset()
            crossings.write_line(self.violation_line(stop.fault, state), state.name)
            crossings.write_line(f"twzemu: compartment {state.name} failed to initialise: its gates answer TWZ_EPERM")
            crossings.end_initialising(state, Lifecycle.FAILED)
            return None
        crossings.end_initialising(state, Lifecycle.READY)
        return None

    def _on_another_thread(self) -> bool:
        """Whether a thread other than the first runs now (one that start-up code created)."""
        return self.threads is not None and self.threads.running.id != FIRST_THREAD

    def finish(self, deadline: float | None = None) -> Stop | None:
        """After a normal exit, the isolated compartments' fini functions, in reverse order of their init (the
        program's own ran in its exit(); a fault in one is reported and the others still run). A finaliser that
        runs past the deadline, is interrupted or exits ends the run: that stop."""
        crossings, threads = self.crossings, self.threads
        assert crossings is not None and threads is not None
        crossings.reset()  # the exit left its crossing into the monitor behind
        threads.end_others()  # the exiting thread runs the finalisers, alone
        for compartment in [*reversed(self.added), *self.linked.compartments[1:]]:  # the reverse of their init
            state = self.states[compartment.id]
            if crossings.lifecycle(state) is not Lifecycle.READY or not compartment.fini:
                continue
            begin = threads.enter(state)  # a compartment the exiting thread never entered: it enters it now
            for function in ([begin] if begin is not None else []) + list(compartment.fini):
                stop = crossings.call(state, function, _remaining(deadline))
                if stop.reason is StopReason.RETURNED:
                    continue
                crossings.reset()
                if stop.reason is not StopReason.FAULT:
                    return stop
                crossings.write_line(self.violation_line(stop.fault, state), state.name)
        return None

    # -- reports ----------------------------------------------------------------------------------------

    def violation_line(self, fault: Fault, executing: CompartmentState, refusal: Refusal | None = None) -> str:
        """The one line reporting ``fault`` by ``executing`` (``refusal``: the engine refused it as a gate
        entry)."""
        overflow = self._stack_overflow(fault, executing)
        if overflow is not None:
            return overflow
        verdict = self.verdict(fault, executing, refusal)
        if verdict is not None:
            return describe_verdict(verdict, self.symbols)
        space = self.machine.current_space() or executing.space
        return describe_fault(fault, executing.name, self.symbols, _instruction(fault, space))

    def _stack_overflow(self, fault: Fault, executing: CompartmentState) -> str | None:
        """The line of an access to a guard page below a stack: which thread's stack ran over, where."""
        if fault.vector is not Vector.PAGE_FAULT or fault.address is None or fault.out_of_memory is not None:
            return None
        index = guarded_stack(fault.address)
        if index is None or self.builder.owners.get(fault.address >> SLOT_SHIFT) is None:
            return None
        threads = self.threads
        owner = None if threads is None else threads.by_index(index)
        whose = "a thread no longer alive" if owner is None else f"T{owner.id}"
        return f"twzemu: fault: stack overflow of {whose} at {self.symbols.name(fault.rip)} in {executing.name}"

    def verdict(self, fault: Fault, executing: CompartmentState, refusal: Refusal | None = None) -> Verdict | None:
        """The verdict on a refused access (None for a fault that is no access: a CPU exception): whose object
        lies at the address and what the executing page tables hold for it decide the rule."""
        name = executing.name
        if fault.insn == "syscall":
            return Verdict(
                ViolationRule.HYPERCALL_OUTSIDE_MONITOR, AccessKind.HYPERCALL, fault.rip, name, name, fault.rip
            )
        if fault.vector is not Vector.PAGE_FAULT or fault.access is None or fault.address is None:
            return None
        if fault.out_of_memory is not None:
            return None
        address = fault.address
        owner = self.builder.owners.get(address >> SLOT_SHIFT)
        if owner is None and address >= KERNEL_BASE:
            owner = "monitor"
        null_page = address < KERNEL_BASE and address & SLOT_OFFSET_MASK < NULL_PAGE_SIZE
        if refusal is not None:
            kind, rule = AccessKind.ENTER, _REFUSAL_RULES[refusal]
        else:
            kind = AccessKind.of_prot(Prot(fault.access))
            space = self.machine.current_space() or executing.space
            mapping = space.mapping_at(address)
            if owner is None and mapping is not None:  # an object a guest mapped (monitor/objects.py)
                owner = f"object {mapping.backing.key}"
            rule = decide(kind, owner is not None, null_page, Prot(0) if mapping is None else mapping.prot)
        if owner is None:
            owner = "no object"
        elif null_page:
            owner = f"the null page of {owner}"
        return Verdict(rule, kind, address, owner, name, fault.rip)

    def _libraries_changed(self) -> None:
        for observer in self.monitor.observers:
            observer.libraries_changed()

    def compartments_now(self) -> tuple[LinkedCompartment, ...]:
        """The compartments with the libraries they have now (the link's, and what dlopen loaded since)."""
        if self.loading is None:
            return self.linked.compartments
        return tuple(self.loading.compartments.values())

    def gates_now(self) -> tuple[Gate, ...]:
        """Every gate of the run now (the link's, and those of compartments dlopen made since)."""
        if self.loading is None:
            return self.linked.gates
        return tuple(self.loading.gates)

    def _deadlock(self, what: str) -> None:
        """The guest waits for what nothing can bring: one line, and the run ends with 134 (as an abort)."""
        self.monitor.stderr.write(f"twzemu: deadlock: {one_line(what)}\n".encode())
        self.monitor.stderr.flush()
        self.machine.exit(DEADLOCK_STATUS)

    def _note(self, line: str) -> None:
        """A --verbose line on stderr."""
        self.monitor.stderr.write(f"twzemu: {one_line(line)}\n".encode())
        self.monitor.stderr.flush()

    def _describe(self) -> None:
        linked = self.linked
        lines = [
            f"twzemu: linked {linked.compartments[0].name}: {len(linked.libraries)} images in "
            f"{len(linked.compartments)} compartments, {linked.relocations} relocations"
        ]
        for compartment in linked.compartments:
            for library in compartment.libraries:
                loaded = library.loaded
                lines.append(
                    f"twzemu: loaded {loaded.name}: text {loaded.text.id} slot {loaded.text_slot} "
                    f"({slot_base(loaded.text_slot):#x}), data {loaded.data.id} slot {loaded.text_slot + 1}, "
                    f"compartment {compartment.name}"
                )
        lines += [
            f"twzemu: gate {g.name} of {g.library} at {g.entry:#x}, isolation {g.level.label}, "
            f"{g.arity} argument registers"
            for g in linked.gates
        ]
        for context in self.builder.contexts.values():
            rights = sorted(Prot(c.prot).letters for c in context.iter_capabilities())
            summary = ", ".join(f"{rights.count(r)} {r}" for r in sorted(set(rights)))
            gates = len(self.gates.gates_of(self._id_of(context.name)))
            lines.append(f"twzemu: context {context.name}: capabilities {summary}; {gates} gates exposed")
        lines += [f"twzemu: {label} {obj.id}" for label, obj in self.builder.objects.items()]
        lines.append(f"twzemu: cpu: {self.machine.mode()}")
        self.monitor.stderr.write("".join(one_line(line) + "\n" for line in lines).encode())

    def _id_of(self, name: str) -> CompartmentId:
        return CompartmentId(next((s.id for s in self.states.values() if s.name == name), -1))

    def culprit(self, stop: Stop) -> str | None:
        """The compartment a stop happened in, if it was a fault."""
        if stop.reason is not StopReason.FAULT or self.crossings is None:
            return None
        current = self.crossings.current or self.states[PROGRAM_COMPARTMENT]
        return current.name

    def result(self, stop: Stop, timeout: float | None) -> RunResult:
        name = self.linked.program.loaded.name
        if stop.reason is StopReason.EXIT:
            assert stop.exit_code is not None
            return RunResult(stop.exit_code, stop, None)
        if stop.reason is StopReason.TIMEOUT:
            return RunResult(STATUS_TIMEOUT, stop, f"twzemu: timeout: {name} still running after {timeout:g} s")
        if stop.reason is StopReason.INTERRUPTED:
            return RunResult(STATUS_INTERRUPTED, stop, f"twzemu: interrupted: {name} stopped")
        fault = stop.fault
        assert fault is not None and self.crossings is not None
        current = self.crossings.current or self.states[PROGRAM_COMPARTMENT]
        return RunResult(STATUS_KILLED, stop, self.violation_line(fault, current, self.crossings.fatal_refusal))


def _declares_gates(search: LibrarySearch, name: str) -> bool:
    """Whether ``name`` is a library the search finds that declares gates (one a dlopen would make a compartment)."""
    try:
        image = search.find(name)
        return image is not None and bool(read_gate_records(image))
    except TwzEmuError:  # not an ELF file a library could be: not one
        return False


def caller_names(compartment: LinkedCompartment) -> tuple[str, ...]:
    """What ``--caller-isolation NAME`` may call ``compartment``: its own name (``prog::libfoo.so``), its root's
    name as needed (the program: its path as given) and that name's last component."""
    root = compartment.libraries[0].name
    return compartment.name, root, Path(root).name


def _remaining(deadline: float | None) -> float | None:
    """The time left until ``deadline`` (``time.monotonic``), never quite none: the watchdog then fires at once."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.001)


_REFUSAL_RULES = {
    Refusal.NOT_AFTER_CALL: ViolationRule.NOT_AFTER_CALL,
    Refusal.NO_FRAME: ViolationRule.NO_FRAME,
    Refusal.NO_COMPARTMENT: ViolationRule.NO_COMPARTMENT,
}


def _instruction(fault: Fault, space: AddressSpace) -> str | None:
    if fault.vector is Vector.PAGE_FAULT:
        return None
    try:
        return instruction_at(space.read_virtual(fault.rip, 16), fault.rip)
    except TwzEmuError:
        return None
