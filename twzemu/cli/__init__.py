"""``twzemu`` command line: parse, call the library, print. Every user error is one line and an exit status."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import TwzEmuError, UsageError
from ..monitor.report import STATUS_INTERRUPTED
from .cc import DESCRIPTION as CC_HELP
from .cc import add_cc_parser, cc_command
from .run import add_run_parser
from .store import add_store_parser

INTERNAL_ERROR = 70


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a ``UsageError`` (one line, exit 2) instead of ``sys.exit``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="twzemu",
        description="Emulate the Twizzler monitor: load ELF programs and libraries as objects, run them in "
        "compartments on a modeled x86-64 MMU.",
        epilog="Examples:\n  twzemu run guests/build/hello\n  twzemu run --timeout 5 prog arg1 arg2\n"
        "  twzemu store --store ./objs ls",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_run_parser(commands)
    add_cc_parser(commands)
    add_store_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list[:1]
    try:
        if args_list[:1] == ["cc"]:  # everything after `cc` is gcc's, even options argparse would claim
            if args_list[1:2] in (["--help"], ["-h"]):
                print(f"usage: twzemu cc [--twz-verbose] [GCC ARGS...]\n\n{CC_HELP}")
                return 0
            return cc_command(args_list[1:])
        args = build_parser().parse_args(args_list)
        if args.command is None:
            raise UsageError("twzemu: no command given (try `twzemu --help`)")
        return int(args.func(args))
    except TwzEmuError as error:
        if debug:
            traceback.print_exc()
        message = str(error)
        print(message if message.startswith("twzemu") else f"twzemu: {message}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("twzemu: interrupted", file=sys.stderr)
        return STATUS_INTERRUPTED
    except BrokenPipeError:  # `twzemu run prog | head`: the reader left; say nothing, like any Unix filter
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(f"twzemu: internal error: {type(error).__name__}: {error} (rerun with --debug)", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
