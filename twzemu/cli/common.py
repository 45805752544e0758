"""What every ``twzemu`` command shares: ``--debug``, accepted before the command and after it."""

from __future__ import annotations

import argparse
from typing import Any

DEBUG = "--debug"
DEBUG_HELP = "show a Python traceback when twzemu fails (without it, every error is one line and a status)"


def grant(text: str) -> Any:
    """``--grant COMPARTMENT=NAME:PERMS`` as argparse's ``type`` (``monitor.objects.Grant``, imported only then)."""
    from ..errors import UsageError
    from ..monitor.objects import Grant

    try:
        return Grant.parse(text)
    except UsageError as error:  # argparse names the option
        raise argparse.ArgumentTypeError(str(error).removeprefix(f"--grant {text}: ")) from None


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on a command's own parser (``twzemu run --debug …``); SUPPRESS keeps a ``--debug`` given before
    the command from being overwritten by the command's default."""
    parser.add_argument(DEBUG, action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
