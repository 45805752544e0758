"""``twzemu call [-L DIR] [--store DIR] LIBRARY FUNCTION [ARG…]``: call one function of a library and print its
result (``monitor.call``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..objects.store import store_from_env
from .common import add_debug_option, grant

CALL_HELP = """Load LIBRARY (a path, or a name searched like a DT_NEEDED name: -L directories, the store's names,
the runtime) and call FUNCTION with ARGs converted by its parameters' C types from the library's DWARF (build
it with -g): integers in decimal or 0x hex, char * from a string, a twz_objid * (<twz/object.h>) from an object's
name, looked up as the naming service looks it up, or its id. A gate is called from a compartment of its
own (a real crossing); any other exported function runs inside the library's compartment.

stdout carries only the result: signed decimal for integer types, 0x hex for pointers, the text of a char *,
nothing for void. What the library prints goes to stderr.

Errors are one line on stderr, status 1: `Type Error: ...` (a bad argument), `Name Error: ...` (no such library
or function), `Security Error: Failed to call FUNCTION in LIBRARY: ...` (refused, or the callee faulted or
violated isolation). Bad options: status 2."""


def add_call_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "call",
        help="call a function (a gate or a nando) of a library",
        description=CALL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_debug_option(parser)
    parser.add_argument("-L", dest="library_dirs", action="append", default=[], metavar="DIR",
                        help="look for LIBRARY and its dependencies in DIR first (repeatable)")  # fmt: skip
    parser.add_argument("--store", metavar="DIR", help="an object store whose names are searched too")
    parser.add_argument("--grant", action="append", default=[], type=grant, metavar="COMPARTMENT=NAME:PERMS",
                        help="let COMPARTMENT map the store's object NAME with PERMS (r, rw, rx), as twzemu run "
                        "--grant does (repeatable)")  # fmt: skip
    parser.add_argument("library", metavar="LIBRARY")
    parser.add_argument("function", metavar="FUNCTION")
    parser.add_argument("args", metavar="ARG", nargs=argparse.REMAINDER)
    parser.set_defaults(func=call_command)


def call_command(args: argparse.Namespace) -> int:
    from ..monitor.call import call  # imported here: `twzemu run` does not pay for it

    line, output = call(args.library, args.function, list(args.args), args.library_dirs, store_from_env(args.store),
                        args.grant)  # fmt: skip
    sys.stderr.buffer.write(output)
    sys.stderr.flush()
    if line is not None:
        print(line)
    return 0
