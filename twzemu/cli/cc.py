"""``twzemu cc [--debug] [--twz-verbose] [GCC ARGS…]``: build guest programs and libraries with gcc and twzemu's
flags (``twzemu.toolchain``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..toolchain import ToolchainUsage, run_cc

USAGE = "usage: twzemu cc [--debug] [--twz-verbose] [GCC ARGS...] FILE..."

DESCRIPTION = """Build a twzemu guest with gcc: position-independent, freestanding, twzemu's headers
(<stdio.h>, <stdlib.h>, <string.h>, <twz.h>), runtime (crt0.o, libtwzrt.so) and linker script (Twizzler's
slot-pair layout). Every argument goes to gcc unchanged; each -L DIR also becomes the linker's -rpath-link DIR,
so a library whose own dependencies sit in the -L directories links without naming them.

  twzemu cc -o prog main.c -L. -lfoo        a program using libfoo.so
  twzemu cc -shared -o libfoo.so foo.c      a library
  twzemu cc -c foo.c                        compile only
  twzemu cc -g -shared -o libsvc.so svc.c   a library declaring gates (TWZ_GATE in <twz.h>): with -g, the
                                            monitor learns how many arguments each gate takes and passes
                                            only those registers (without, all six pass)

twzemu's own options come first, before any of gcc's (later, --debug is gcc's -g):
  --debug        show a Python traceback when twzemu itself fails
  --twz-verbose  print the gcc command line before running it
  -h, --help     this text

Exit status: gcc's (0 when it built everything); 2 when no input file is named; 127 when gcc or the guest
runtime is missing."""


@dataclass(frozen=True, slots=True)
class CcOptions:
    """A ``twzemu cc`` command line: twzemu's own options, then gcc's arguments."""

    gcc_args: tuple[str, ...]
    verbose: bool = False
    debug: bool = False
    help: bool = False


_OWN_OPTIONS = {"--twz-verbose": "verbose", "--debug": "debug", "--help": "help", "-h": "help"}


def parse_cc(args: Sequence[str]) -> CcOptions:
    """twzemu's options lead, in any order; from the first other argument on, everything is gcc's (gcc has a
    ``--debug`` and a ``--help`` of its own)."""
    own: set[str] = set()
    index = 0
    while index < len(args) and args[index] in _OWN_OPTIONS:
        own.add(_OWN_OPTIONS[args[index]])
        index += 1
    return CcOptions(tuple(args[index:]), "verbose" in own, "debug" in own, "help" in own)


def add_cc_parser(commands: Any) -> None:
    """``cc`` in ``twzemu --help``'s list; ``twzemu.cli.main`` hands a ``cc`` command line to ``parse_cc`` before
    argparse sees it, since everything after ``cc`` may be gcc's."""
    parser = commands.add_parser(
        "cc",
        help="build guest programs and libraries (a gcc wrapper)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("gcc_args", nargs=argparse.REMAINDER, metavar="GCC ARGS")
    parser.set_defaults(func=lambda args: cc_command(parse_cc(args.gcc_args)))


def cc_command(options: CcOptions) -> int:
    """``twzemu cc``: gcc's own exit status (gcc prints its own diagnostics); usage (2) without an input file."""
    if options.help:
        print(f"{USAGE}\n\n{DESCRIPTION}")
        return 0
    try:
        return run_cc(options.gcc_args, verbose=options.verbose)
    except ToolchainUsage as error:
        print(USAGE, file=sys.stderr)
        raise UsageError(f"twzemu cc: {error} (see `twzemu cc --help`)") from error


__all__ = ["DESCRIPTION", "USAGE", "CcOptions", "add_cc_parser", "cc_command", "parse_cc"]
