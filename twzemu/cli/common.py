"""What every ``twzemu`` command shares: ``--debug``, accepted before the command and after it."""

from __future__ import annotations

import argparse

DEBUG = "--debug"
DEBUG_HELP = "show a Python traceback when twzemu fails (without it, every error is one line and a status)"


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on a command's own parser (``twzemu run --debug …``); SUPPRESS keeps a ``--debug`` given before
    the command from being overwritten by the command's default."""
    parser.add_argument(DEBUG, action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
