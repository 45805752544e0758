"""``twzemu repl``: call gates and nandos interactively, on one ``twzemu.Session`` (one machine: state persists).

Commands, one per line (``help`` lists them): ``load LIBRARY``; ``LIBRARY::FUNCTION ARG…`` (a call: the result is
kept as ``$1``, ``$2``… and usable as an argument); ``? FUNCTION`` or ``? LIBRARY::FUNCTION`` (its C signature from
DWARF); ``functions [LIBRARY]``; ``quit`` (or end of input). Every error is one line, typed as ``twzemu call``'s
are, and the session goes on, a callee's fault included. On a terminal the prompt (``twz> ``) has history and
tab completion of commands, loaded libraries, functions and ``$n`` names (prompt-toolkit); without one, lines are
read plainly from stdin.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import TwzEmuError
from ..objects.store import store_from_env
from .common import add_debug_option

if TYPE_CHECKING:  # the session is imported when the REPL starts: `twzemu run` does not pay for it
    from ..monitor.call import Session

PROMPT = "twz> "
HELP = """commands:
  load LIBRARY                 load a library (a path, or a name found in -L directories, the store, the runtime)
  LIBRARY::FUNCTION ARG...     call a function: integers (decimal, 0x hex), strings for char *, $n for a result
  ? [LIBRARY::]FUNCTION        its C signature (from the library's DWARF: build it with -g)
  functions [LIBRARY]          the functions of the loaded libraries
  help, quit"""


def add_repl_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "repl",
        help="call gates and functions of libraries interactively",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_debug_option(parser)
    parser.add_argument("-L", dest="library_dirs", action="append", default=[], metavar="DIR",
                        help="look for libraries in DIR first (repeatable)")  # fmt: skip
    parser.add_argument("--store", metavar="DIR", help="an object store whose names are searched too")
    parser.add_argument("libraries", metavar="LIBRARY", nargs="*", help="libraries to load at the start")
    parser.set_defaults(func=repl_command)


class Repl:
    """The interpreter: one line in, what to print out (``execute``); the terminal is the caller's business."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.libraries: list[str] = []
        self.results: list[object] = []
        self._printed = 0  # how much of what the libraries printed has been shown

    def library_output(self) -> str:
        """What the libraries printed since the last time (shown on stderr, before the result)."""
        data = self.session.output.getvalue()
        new, self._printed = data[self._printed :], len(data)
        return new.decode("utf-8", "replace")

    def execute(self, line: str) -> str | None:
        """The output of ``line`` (None: nothing to print); raises ``EOFError`` for ``quit``."""
        from ..monitor.call import GateTypeError

        words = shlex.split(line)
        if not words:
            return None
        command, arguments = words[0], words[1:]
        if command in ("quit", "exit"):
            raise EOFError
        if command == "help":
            return HELP
        if command == "load":
            if len(arguments) != 1:
                raise GateTypeError("load takes one library")
            return self._load(arguments[0])
        if command == "?":
            if len(arguments) != 1:
                raise GateTypeError("? takes one function")
            library, function = self._resolve(arguments[0])
            signature = self.session.functions(library).get(function)
            return (
                f"{function}: no signature ({library} lacks -g)"
                if signature is None
                else f"{function}{_after(str(signature))}"
            )
        if command == "functions":
            names = arguments or self.libraries
            return "\n".join(f"{library}::{name}" for library in names for name in self.session.functions(library))
        library, function = self._resolve(command)
        result = self.session.call(library, function, [self._value(argument) for argument in arguments])
        if result is None:
            return None
        self.results.append(result)
        return f"${len(self.results)} = {result!r}" if isinstance(result, str) else f"${len(self.results)} = {result}"

    def _load(self, library: str) -> str:
        functions = self.session.functions(library)
        if library not in self.libraries:
            self.libraries.append(library)
        return f"loaded {library}: {len(functions)} functions"

    def _resolve(self, text: str) -> tuple[str, str]:
        """``LIBRARY::FUNCTION``, or a function of the one loaded library that has it."""
        from ..monitor.call import GateNameError

        if "::" in text:
            library, function = text.rsplit("::", 1)
            if library not in self.libraries:
                self._load(library)
            return library, function
        owners = [library for library in self.libraries if text in self.session.functions(library)]
        if len(owners) != 1:
            raise GateNameError(f"{text}: " + ("no loaded library has it" if not owners else
                                               f"in {' and '.join(owners)}: say which (LIBRARY::{text})"))  # fmt: skip
        return owners[0], text

    def _value(self, argument: str) -> int | str:
        from ..monitor.call import GateNameError

        if argument.startswith("$") and argument[1:].isdigit():
            index = int(argument[1:])
            if not 1 <= index <= len(self.results):
                raise GateNameError(f"{argument}: no such result")
            value = self.results[index - 1]
            assert isinstance(value, int | str)
            return value
        return argument

    def words(self) -> Iterable[str]:
        """What tab completion offers: commands, libraries, their functions, results."""
        yield from ("load", "help", "quit", "functions", "?")
        for library in self.libraries:
            yield library
            for function in self.session.functions(library):
                yield f"{library}::{function}"
                yield function
        yield from (f"${n}" for n in range(1, len(self.results) + 1))


def _after(signature: str) -> str:
    """``long(long x)`` as ``(long x) -> long``."""
    result, parameters = signature.split("(", 1)
    return f"({parameters} -> {result}"


def run_repl(repl: Repl, read: Callable[[], str], write: Callable[[str], None]) -> int:
    """Read, execute, print until the end of input or ``quit``; every error is one line and the session goes on."""
    from ..monitor.call import CallError

    while True:
        try:
            line = read()
        except (EOFError, KeyboardInterrupt):
            return 0
        try:
            output = repl.execute(line)
        except EOFError:
            return 0
        except (CallError, TwzEmuError, ValueError) as error:  # ValueError: shlex on an unclosed quote
            output = str(error) if isinstance(error, CallError) else f"Error: {error}"
        printed = repl.library_output()
        if printed:
            sys.stderr.write(printed)
            sys.stderr.flush()
        if output is not None:
            write(output)


def repl_command(args: argparse.Namespace) -> int:
    from ..monitor.call import Session

    with Session(args.library_dirs, store_from_env(args.store)) as session:
        repl = Repl(session)
        for library in args.libraries:
            print(repl.execute(f"load {shlex.quote(library)}"))
        if sys.stdin.isatty() and sys.stdout.isatty():
            return _interactive(repl)
        return run_repl(repl, _plain_line, print)


def _plain_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def _interactive(repl: Repl) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.shortcuts import CompleteStyle

    class Words(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterable[Completion]:
            word = document.get_word_before_cursor(WORD=True)
            for candidate in dict.fromkeys(repl.words()):
                if candidate.startswith(word):
                    yield Completion(candidate, start_position=-len(word))

    prompt: PromptSession[str] = PromptSession(
        history=InMemoryHistory(), completer=Words(), complete_style=CompleteStyle.READLINE_LIKE
    )
    return run_repl(repl, lambda: prompt.prompt(PROMPT), print)
