"""Watching crossings: what the monitor tells an observer, and the text trace of ``twzemu run --trace``.

While any observer watches, every crossing comes through Python (the crossing engine hands it over instead of
completing it), so the observer sees each entry and each return in order; what the guest sees does not change
(``tests/test_properties.py`` checks traced runs against untraced ones). With no observer nothing of this runs.
Observers that write files (``debug.trace``: Chrome trace-event JSON, Graphviz DOT) get ``finished`` however the
run ends — exit, violation, timeout, Ctrl-C — so what they write is always complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TextIO

from ..machine.events import Fault
from .report import one_line


@dataclass(frozen=True, slots=True)
class CrossingEvent:
    """One entry into a gate, or the return (or unwinding) that ends it. Names are as reports write them."""

    thread: int
    caller: str
    callee: str
    gate: str
    arguments: tuple[int, ...] = ()  # an entry's argument registers, as many as the gate takes
    result: int | None = None  # a return's value (signed)
    report: str | None = None  # the violation line that unwound the crossing, if one did


class CrossingObserver(Protocol):
    def entered(self, event: CrossingEvent) -> None: ...

    def returned(self, event: CrossingEvent) -> None: ...

    def reported(self, line: str, compartment: str | None, fault: Fault | None = None) -> None:
        """A fault or violation line (the one the run prints), the compartment it happened in, and the fault while
        the machine still stands at it (before the monitor unwinds a crossing or initialiser over it)."""

    def abandoned(self) -> None:
        """Every crossing entered and not returned is over without a return (an exit, a failed initialiser)."""

    def finished(self) -> None:
        """The run is over (however it ended)."""

    def libraries_changed(self) -> None:
        """A library was loaded or its last handle closed at run time (``dlopen``, ``dlclose``)."""


TRACE_PREFIX = "twzemu: trace: "  # what begins each line of --trace


class TextTrace:
    """``--trace``: one line per entry and return, on a text stream (DESIGN.md "Guest ABI")."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def entered(self, event: CrossingEvent) -> None:
        self.stream.write(enter_line(event) + "\n")

    def returned(self, event: CrossingEvent) -> None:
        self.stream.write(return_line(event) + "\n")

    def reported(self, line: str, compartment: str | None, fault: Fault | None = None) -> None:
        pass  # the run prints the line itself

    def abandoned(self) -> None:
        pass

    def finished(self) -> None:
        pass

    def libraries_changed(self) -> None:
        pass


def enter_words(event: CrossingEvent) -> str:
    """An entry as ``--trace`` words it: ``enter T1 CALLER -> CALLEE GATE(ARGUMENTS)``."""
    arguments = ", ".join(f"{value:#x}" for value in event.arguments)
    return f"enter T{event.thread} {event.caller} -> {event.callee} {event.gate}({arguments})"


def enter_line(event: CrossingEvent) -> str:
    """The line ``--trace`` prints for an entry (the debugger prints it at a crossing stop too)."""
    return one_line(f"{TRACE_PREFIX}{enter_words(event)}")


def return_line(event: CrossingEvent) -> str:
    words = f"T{event.thread} {event.callee} -> {event.caller} {event.gate} = {event.result}"
    return one_line(f"{TRACE_PREFIX}return {words}")
