"""``twzemu run [OPTIONS] PROG [ARGS…]``: load a program and its libraries, run it, exit with its status."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..elf.image import ElfImage
from ..errors import ElfError, UsageError
from ..linker.link import IsolationPolicy
from ..machine.machine import DEFAULT_RAM, MIN_RAM
from ..mmu.physmem import MAX_PHYS_SIZE, PAGE_SIZE, OutOfFrames, size_text
from ..monitor.files import Mount
from ..monitor.monitor import Monitor
from ..monitor.startup import host_environment
from ..monitor.threads import Schedule
from ..objects.store import store_from_env
from ..security.gates import IsolationLevel
from .common import add_debug_option, grant

if TYPE_CHECKING:  # what only --gdb, --trace-json and --graph need is imported when asked for (start-up time)
    from ..debug.stub import GdbStub
    from ..monitor.observe import CrossingObserver


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


_SIZE = re.compile(r"(\d+)([kmg]?)", re.IGNORECASE)
_SIZE_SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30}
SIZE_FORMAT = "a number of bytes, with K, M or G for KiB, MiB or GiB: 64M, 1G, 524288"


def memory_size(text: str) -> int:
    """``--memory``'s value in bytes: a page multiple from ``MIN_RAM`` to ``MAX_PHYS_SIZE`` (DESIGN.md: page tables
    stay below 4 GiB because Unicorn 2.1.4 keeps only 32 bits of CR3)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} ({SIZE_FORMAT})")
    size = int(match[1]) << _SIZE_SHIFTS[match[2].lower()]
    if size < MIN_RAM:
        raise argparse.ArgumentTypeError(f"{text!r} is too small to boot: at least {size_text(MIN_RAM)}")
    if size > MAX_PHYS_SIZE:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too large: at most {size_text(MAX_PHYS_SIZE)} (page tables must stay below 4 GiB)"
        )
    if size % PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {PAGE_SIZE}-byte pages")
    return size


def add_run_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run a guest program",
        description="Load PROG (an x86-64 ET_DYN program built with `twzemu cc`) and its libraries as Twizzler "
        "objects and run it at CPL3 with paging; each library that declares gates gets a compartment of its own. "
        "Options go before PROG; everything after PROG is the guest's argv[1...]. The guest's environment is "
        "twzemu's own (the host's) unless --clear-env, with each --env applied after either.",
        epilog="Exit status: the guest's exit code; 139 when a fault or security violation kills it (one line "
        "on stderr says what, where and who); 124 on --timeout; 130 on Ctrl-C; 127 for a missing or malformed "
        "file, a shared library given as PROG, or a link failure (one line per problem); 2 for bad options.",
    )
    add_debug_option(parser)
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S", help="stop the guest after S seconds (exit 124); default: no limit"
    )
    parser.add_argument(
        "--memory",
        type=memory_size,
        default=DEFAULT_RAM,
        metavar="SIZE",
        help=f"the guest's RAM (emulated physical memory), {SIZE_FORMAT}; default {DEFAULT_RAM >> 20}M, at least "
        f"{MIN_RAM >> 10}K, at most {MAX_PHYS_SIZE >> 30}G. A page takes RAM when it is first touched; a guest that "
        "touches more than SIZE faults: inside a gate call that call returns TWZ_EFAULT, otherwise the program "
        "stops (exit 139)",
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="keep objects in this on-disk store (default: $TWZEMU_STORE, else in memory for this run)",
    )
    parser.add_argument(
        "-L",
        dest="library_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="look for libraries in DIR first (repeatable); then PROG's directory, the object "
        "store's names, and the guest runtime",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="list loaded objects, slots and compartments")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print each gate crossing (thread, caller -> callee, gate, arguments, result) to stderr",
    )
    parser.add_argument(
        "--trace-json",
        type=Path,
        metavar="FILE",
        help="write the crossings as a Chrome trace-event timeline to FILE (open it in ui.perfetto.dev or "
        "chrome://tracing): compartments as processes, one event per crossing, faults and violations as instants",
    )
    parser.add_argument(
        "--graph",
        type=Path,
        metavar="FILE.dot",
        help="write a Graphviz call graph to FILE.dot: compartments, and per caller -> callee the gates called and "
        "how often (`dot -Tsvg FILE.dot > graph.svg` draws it)",
    )
    parser.add_argument(
        "--isolate",
        action="append",
        default=[],
        metavar="NAME",
        help="put library NAME (a DT_NEEDED name; it must declare gates) in its own compartment (the default "
        "for every library that declares gates)",
    )
    parser.add_argument(
        "--caller-isolation",
        action="append",
        default=[],
        type=_caller_level,
        metavar="NAME=LEVEL",
        help="the isolation level compartment NAME (the program's name, a library's DT_NEEDED name, or a "
        "compartment's name as reports print it: prog::libfoo.so) asks for as a caller: none (the default), "
        "callee, caller or full; joined with each gate's level. A NAME that names no compartment is refused (2)",
    )
    parser.add_argument(
        "--no-isolate",
        action="append",
        default=[],
        metavar="NAME",
        help="load library NAME into its user's compartment even though it declares gates",
    )
    parser.add_argument(
        "--clear-env", action="store_true", help="start the guest's environment empty (default: a copy of twzemu's own)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=_variable,
        metavar="NAME=VALUE",
        help="set NAME to VALUE in the guest's environment (repeatable; VALUE may be empty); applied after the "
        "inherited environment or --clear-env, wherever it stands among the options",
    )
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="DIR[:rw][:COMPARTMENT]",
        help="let the guest read the files under host directory DIR by their paths relative to DIR, which becomes "
        "its current directory (repeatable; the first is the current directory); :rw lets it create and replace "
        "files there, each reaching DIR atomically on close (else EROFS); :COMPARTMENT (named as "
        "--caller-isolation names it) restricts the mount to that compartment. Without --mount the current "
        "directory is / of the run's object namespace: files the guest creates are objects of the store, "
        "kept across runs with --store",
    )
    parser.add_argument(
        "--grant",
        action="append",
        default=[],
        type=grant,
        metavar="COMPARTMENT=NAME:PERMS",
        help="let COMPARTMENT (named as --caller-isolation names it) map the store's object NAME with PERMS: r, rw "
        "or rx (repeatable; <twz/object.h>). A grant adds access and removes none; an object added with `twzemu "
        "store put` belongs to no compartment and is reachable only through one",
    )
    parser.add_argument(
        "--gdb",
        metavar="[HOST:]PORT",
        help="wait for gdb (`target remote HOST:PORT`) before any guest instruction runs; HOST defaults to "
        "127.0.0.1, PORT 0 picks a free port; the port is printed on stderr",
    )
    parser.add_argument(
        "--gdb-allow-remote", action="store_true", help="let --gdb listen on an address that is not local"
    )
    parser.add_argument(
        "--quantum",
        type=_positive,
        metavar="N",
        help="while several threads could run, switch threads every N guest instructions, counted a translated "
        "block at a time (a turn ends with the block in which N ran out), so a schedule is the same on every run "
        "(default: every 5 ms of the host's time, which costs nothing per block but differs from run to run)",
    )
    parser.add_argument(
        "--schedule-seed",
        type=int,
        metavar="S",
        help="draw the schedule from seed S: which thread runs next, and each quantum's length (up to twice "
        "--quantum, 1000000 by default); the same seed replays the same interleaving, another explores another",
    )
    parser.add_argument("prog", metavar="PROG", help="the program to run")
    parser.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="arguments for the guest")
    parser.set_defaults(func=run_command)


def _positive(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a number of instructions, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"takes a positive number, not {text}")
    return value


def _caller_level(text: str) -> tuple[str, IsolationLevel]:
    name, equals, level = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"takes NAME=LEVEL, not {text!r}")
    try:
        return name, IsolationLevel.parse(level)
    except UsageError as error:  # argparse names the option
        raise argparse.ArgumentTypeError(str(error)) from None


def _variable(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"takes NAME=VALUE, not {text!r}")
    return name, value


def environment(clear: bool, variables: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The guest's environment: twzemu's own unless ``clear``, then each ``--env`` in order (the last wins)."""
    return {**({} if clear else host_environment()), **dict(variables)}


def run_command(args: argparse.Namespace) -> int:
    if args.prog.startswith("-"):
        raise UsageError(f"twzemu run: unknown option {args.prog} (see `twzemu run --help`)")
    _check_program(args.prog)
    policy = IsolationPolicy(frozenset(args.isolate), frozenset(args.no_isolate))
    monitor = Monitor(
        store_from_env(args.store),
        ram_size=args.memory,
        verbose=args.verbose,
        library_dirs=[Path(d) for d in args.library_dirs],
        environment=environment(args.clear_env, args.env),
        policy=policy,
        caller_levels=dict(args.caller_isolation),
        trace=sys.stderr if args.trace else None,
        observers=_file_observers(args.trace_json, args.graph),
        mounts=[Mount.parse(text) for text in args.mount],
        schedule=Schedule.of(args.quantum, args.schedule_seed),
        grants=args.grant,
    )
    stub = _gdb_stub(args, monitor)
    try:
        status = monitor.run(args.prog, args.args, timeout=args.timeout).status
        if stub is not None:
            stub.finish(status)
        gdb = getattr(args, "gdb_process", None)  # started by `twzemu debug`: the session ends when gdb quits
        if gdb is not None:
            gdb.wait()
        return status
    except OutOfFrames:  # a guest that runs out gets a fault; this is the monitor itself, loading the program
        raise UsageError(
            f"twzemu run: --memory {size_text(args.memory)} is too small to load {args.prog} and its libraries"
        ) from None


def _gdb_stub(args: argparse.Namespace, monitor: Monitor) -> GdbStub | None:
    """``--gdb``: listen, say where (flushed: a script waits for the line), and take control of the run."""
    if args.gdb is None:
        return None
    from ..debug.stub import GdbStub, parse_address

    stub = GdbStub(*parse_address(args.gdb, args.gdb_allow_remote))
    host, port = stub.listen()
    sys.stderr.write(f"twzemu: waiting for gdb on {host}:{port}\n")
    sys.stderr.flush()
    stub.attach_to(monitor)
    on_listen = getattr(args, "on_listen", None)  # `twzemu debug` starts gdb here
    if on_listen is not None:
        on_listen(host, port)
    return stub


def _file_observers(timeline: Path | None, graph: Path | None) -> list[CrossingObserver]:
    """The observers that write files, each checked writable before anything runs (a usage error names it)."""
    if timeline is None and graph is None:
        return []
    from ..debug.trace import CallGraph, TimelineTrace

    observers: list[CrossingObserver] = []
    for path, make in ((timeline, TimelineTrace), (graph, CallGraph)):
        if path is None:
            continue
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK) or path.is_dir():
            raise UsageError(f"twzemu run: cannot write {path}: no such writable directory or it is a directory")
        observers.append(make(path))
    return observers


def _check_program(path: str) -> None:
    """A library built by ``twzemu cc -shared`` has no entry point (``e_entry`` 0: it links no ``_start``);
    run, it would fetch from its own null page. Refused by name before anything is loaded."""
    if ElfImage.open(path).entry == 0:
        raise ElfError(f"{path}: a shared library, not a program")
