"""The one error hierarchy of twzemu.

Every error a user can cause is a ``TwzEmuError``: its ``str`` is one line that names the culprit (file, symbol,
address, compartment); the CLI prints each of its ``lines()`` (that one line; one per problem for an error that
groups several, ``LinkError``) prefixed with ``twzemu:`` and exits with ``exit_status``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class TwzEmuError(Exception):
    """Root of every twzemu error; ``exit_status`` is what the CLI exits with."""

    exit_status = 127
    prefix = "twzemu: "  # what the CLI puts before each line

    def lines(self) -> list[str]:
        """What the CLI prints, one line each."""
        return [str(self)]


class UsageError(TwzEmuError):
    """Bad command-line arguments: every one found, one line each (``lines()``)."""

    exit_status = 2

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else [str(problem) for problem in problems]
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        return list(self.problems)


class ToolchainError(TwzEmuError):
    """gcc is missing, or the guest runtime (musl and the glue) cannot be built."""


class ElfError(TwzEmuError):
    """A file that is not a loadable x86-64 ELF (missing, truncated, wrong class or machine)."""


class ObjectError(TwzEmuError):
    """A missing object, a bad object id or a damaged object store."""


class PhysMemError(TwzEmuError):
    """Emulated physical memory is exhausted or an address is outside every mapping."""


class MachineError(TwzEmuError):
    """The CPU could not be brought up (e.g. a Unicorn whose internals failed verification)."""

    exit_status = 70


class MappingError(TwzEmuError):
    """A virtual-memory request x86-64 paging or the slot model cannot honour.

    W|X together (W^X), a non-canonical or misaligned address, a slot already in use, or an access through an
    address space to a virtual address no mapping backs; the message names the address in hex.
    """


class LinkErrorKind(enum.Enum):
    """What a link problem is (after Twizzler's ``DynlinkErrorKind``); ``GROUP`` gathers problems of several kinds."""

    GROUP = "link problems"
    LIBRARY_NOT_FOUND = "library not found"
    RESERVED_NAME = "reserved name"
    BAD_GATE = "bad gate"
    UNDEFINED_SYMBOL = "undefined symbol"
    RELOCATION = "relocation"
    UNSUPPORTED = "unsupported"


class LinkError(TwzEmuError):
    """Linking failed: every problem found, grouped (every missing symbol is reported at once), as Twizzler's
    ``DynlinkError{kind, related}`` does.

    A problem is a ``LinkError`` of one ``kind`` with one line of text; a failure of several gathers them in
    ``related`` (its kind is theirs when they share one, else ``GROUP``). ``lines()`` is every problem's line (what
    the CLI prints, and what tests compare); ``str`` is one line, the first and how many more there are.
    """

    def __init__(
        self, related: str | Iterable[str | LinkError], kind: LinkErrorKind = LinkErrorKind.RELOCATION
    ) -> None:
        if isinstance(related, str):
            self.kind, self.text, self.related = kind, related, []
        else:
            problems = [item if isinstance(item, LinkError) else LinkError(item, kind) for item in related]
            self.related = [leaf for problem in problems for leaf in (problem.related or [problem])]
            if not self.related:
                self.related = [LinkError("link failed", kind)]
            kinds = {problem.kind for problem in self.related}
            self.kind = kinds.pop() if len(kinds) == 1 else LinkErrorKind.GROUP
            self.text = self.related[0].text
        super().__init__(self.text)

    def __str__(self) -> str:
        more = len(self.related) - 1
        return self.text if more <= 0 else f"{self.text} (and {more} more link problems)"

    def lines(self) -> list[str]:
        return [problem.text for problem in self.related] if self.related else [self.text]


class SecurityError(TwzEmuError):
    """A security configuration twzemu cannot honour, refused when it is built.

    A capability with WRITE|EXEC (W^X) or with no rights at all, a gate that overlaps another or is declared
    twice, a gate exposed by a context that does not own it, an unknown isolation level; the message names the
    object, gate or address.
    """


class MonitorError(TwzEmuError):
    """The monitor could not start a program (e.g. a compartment's initialiser faulted)."""

    exit_status = 139
