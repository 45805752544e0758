"""``twzemu`` command line: parse, call the library, print. Every user error is one line and an exit status."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import TwzEmuError, UsageError
from ..monitor.report import STATUS_INTERRUPTED, one_line
from .call import add_call_parser
from .cc import add_cc_parser, cc_command, parse_cc
from .common import DEBUG, DEBUG_HELP
from .debug import add_debug_parser
from .repl import add_repl_parser
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
        "  twzemu cc -o prog main.c -L. -lfoo\n  twzemu store --store ./objs ls\n\n"
        "Each command's --help says its options, defaults and exit statuses. Every command exits 2 for bad\n"
        "options, 127 for a missing or unusable file or a link failure (one line per problem), 70 for an\n"
        "internal error of twzemu; --debug, before or after the command, adds a Python traceback to an error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(DEBUG, action="store_true", help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_run_parser(commands)
    add_debug_parser(commands)
    add_cc_parser(commands)
    add_store_parser(commands)
    add_call_parser(commands)
    add_repl_parser(commands)
    return parser


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command line: what to run, and whether its errors show a traceback."""

    run: Callable[[], int]
    debug: bool


def parse_command(args_list: list[str]) -> Command:
    """argparse for every command but ``cc``, whose arguments are gcc's (``cc.parse_cc``)."""
    leading = 0
    while args_list[leading : leading + 1] == [DEBUG]:
        leading += 1
    if args_list[leading : leading + 1] == ["cc"]:
        options = parse_cc(args_list[leading + 1 :])
        return Command(lambda: cc_command(options), leading > 0 or options.debug)
    args = build_parser().parse_args(args_list)
    if args.command is None:
        raise UsageError("twzemu: no command given (try `twzemu --help`)")
    return Command(lambda: int(args.func(args)), args.debug)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG in args_list  # until the line is parsed (only a usage error can come first)
    try:
        command = parse_command(args_list)
        debug = command.debug
        return command.run()
    except TwzEmuError as error:
        if debug:
            traceback.print_exc()
        for line in error.lines():  # one line each; a link failure has one per problem
            line = one_line(line)  # names in it came from ELF files: no forged second line, no terminal escape
            print(line if line.startswith("twzemu") else f"{error.prefix}{line}", file=sys.stderr)
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
        line = f"twzemu: internal error: {type(error).__name__}: {error} (rerun with --debug)"
        print(one_line(line), file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
