"""``twzemu debug [RUN OPTIONS] PROG [ARGS…]``: ``twzemu run --gdb 0`` with the system's gdb started attached."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

from ..errors import UsageError

GDB_ENV = "TWZEMU_GDB"  # the gdb to start (default: `gdb` on PATH)


def add_debug_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "debug",
        help="run a guest program under the system's gdb",
        description="Start PROG as `twzemu run --gdb 0` would (every run option is accepted, before PROG) and "
        "the system's gdb attached to it: gdb finds the program's and every library's symbols from the stub. "
        f"${GDB_ENV} names another gdb.",
        epilog="Exit status: the guest's, as `twzemu run` gives it, once gdb has quit.",
    )
    parser.add_argument("rest", metavar="[RUN OPTIONS] PROG [ARGS]", nargs=argparse.REMAINDER)
    parser.set_defaults(func=debug_command)


def debug_command(args: argparse.Namespace) -> int:
    from . import build_parser  # the run command's own parser: one place for its options
    from .run import run_command

    if any(arg == "--gdb" or arg.startswith("--gdb=") for arg in args.rest):
        raise UsageError("twzemu debug: --gdb is chosen by twzemu debug itself (a free local port)")
    run_args = build_parser().parse_args(["run", "--gdb", "0", *args.rest])
    gdb = os.environ.get(GDB_ENV) or shutil.which("gdb")
    if gdb is None:
        raise UsageError(f"twzemu debug: no gdb on PATH (install gdb, or name one in ${GDB_ENV})")
    run_args.on_listen = lambda host, port: _start_gdb(gdb, host, port, run_args)
    return run_command(run_args)


def _start_gdb(gdb: str, host: str, port: int, run_args: argparse.Namespace) -> subprocess.Popen[bytes]:
    import subprocess  # here: every command's start-up would pay for importing it

    # gdb owns the terminal: Ctrl-C is gdb's to send (as an interrupt packet), not a signal that ends the run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    process = subprocess.Popen([gdb, "-q", "-ex", f"target remote {host}:{port}"])
    run_args.gdb_process = process
    return process
