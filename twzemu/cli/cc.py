"""``twzemu cc [GCC ARGS…]``: build guest programs and libraries with gcc and twzemu's flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..toolchain import run_cc

DESCRIPTION = """Build a twzemu guest with gcc: position-independent, freestanding, twzemu's headers
(<stdio.h>, <stdlib.h>, <string.h>, <twz.h>), runtime (crt0.o, libtwzrt.so) and linker script (Twizzler's
slot-pair layout). Every argument goes to gcc unchanged.

  twzemu cc -o prog main.c -L. -lfoo        a program using libfoo.so
  twzemu cc -shared -o libfoo.so foo.c      a library
  twzemu cc -c foo.c                        compile only
  twzemu cc -g -shared -o libsvc.so svc.c   a library declaring gates (TWZ_GATE in <twz.h>): with -g, the
                                            monitor learns how many arguments each gate takes and passes
                                            only those registers (without, all six pass)

--twz-verbose (first) prints the gcc command line."""


def add_cc_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "cc",
        help="build guest programs and libraries (a gcc wrapper)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("gcc_args", nargs=argparse.REMAINDER, metavar="GCC ARGS")
    parser.set_defaults(func=lambda args: cc_command(args.gcc_args))


def cc_command(args: Sequence[str]) -> int:
    """``twzemu cc``: gcc's own exit status; gcc prints its own diagnostics."""
    verbose = bool(args) and args[0] == "--twz-verbose"
    return run_cc(list(args[1:] if verbose else args), verbose=verbose)


__all__ = ["DESCRIPTION", "add_cc_parser", "cc_command"]
