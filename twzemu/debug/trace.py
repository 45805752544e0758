"""Traces people look at: crossings as a Chrome trace-event timeline, and as a Graphviz call graph.

Both are crossing observers (``monitor.observe``) that ``twzemu run --trace-json FILE`` / ``--graph FILE.dot``
attach; they cost nothing when not asked for (without an observer the crossing engine completes crossings in C).

``TimelineTrace`` writes the Trace Event Format that Perfetto (ui.perfetto.dev) and ``chrome://tracing`` open:
``{"traceEvents": [...]}`` where each compartment is a process (a ``process_name`` metadata event), each guest
thread a thread of it (``thread_name``: ``T<n>``), each crossing one complete event (``"ph": "X"``) on the
callee's process, named after the gate, with the arguments and the result (or the violation that unwound it) in
``args``, and each fault or violation an instant event (``"ph": "i"``) with its report line. ``ts`` and ``dur``
are microseconds of host time since the run started. A crossing still open when the run ends (a violation that
killed the program, ``--timeout``, Ctrl-C) ends there, marked ``unfinished``. The file is written when the run
finishes, atomically: it is always complete and valid JSON.

``CallGraph`` writes DOT: the compartments as nodes and, for each caller → callee pair, one edge labelled with
the gates called and how many times (``dot -Tsvg graph.dot > graph.svg`` draws it).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..machine.events import Fault
from ..monitor.observe import CrossingEvent


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a reader sees the old file or the whole new one."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@dataclass(slots=True)
class _Open:
    """A crossing entered and not returned yet."""

    event: CrossingEvent
    start: float


@dataclass
class TimelineTrace:
    """``--trace-json FILE``: Chrome trace-event JSON (module docstring)."""

    path: Path
    _events: list[dict[str, object]] = field(default_factory=list)
    _open: list[_Open] = field(default_factory=list)
    _processes: dict[str, int] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter)

    def _now(self) -> float:
        return (time.perf_counter() - self._started) * 1e6

    def _pid(self, compartment: str) -> int:
        pid = self._processes.get(compartment)
        if pid is None:
            pid = self._processes[compartment] = len(self._processes) + 1
            self._events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": compartment}})
            self._events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 1, "args": {"name": "T1"}})
        return pid

    def entered(self, event: CrossingEvent) -> None:
        self._pid(event.caller)
        self._pid(event.callee)
        self._open.append(_Open(event, self._now()))

    def returned(self, event: CrossingEvent) -> None:
        if not self._open:
            return
        crossing = self._open.pop()
        outcome: dict[str, object] = {"result": event.result}
        if event.report is not None:
            outcome["violation"] = event.report
        self._complete(crossing, self._now(), outcome)

    def _complete(self, crossing: _Open, end: float, outcome: dict[str, object]) -> None:
        entry = crossing.event
        self._events.append({
            "ph": "X",
            "name": entry.gate,
            "cat": "crossing",
            "pid": self._pid(entry.callee),
            "tid": entry.thread,
            "ts": round(crossing.start, 3),
            "dur": round(max(end - crossing.start, 0.0), 3),
            "args": {"caller": entry.caller, "arguments": [hex(value) for value in entry.arguments], **outcome},
        })  # fmt: skip

    def reported(self, line: str, compartment: str | None, fault: Fault | None = None) -> None:
        pid = self._pid(compartment) if compartment is not None else 0
        self._events.append({"ph": "i", "s": "p" if pid else "g", "name": line.split(":", 2)[1].strip(),
                             "pid": pid, "tid": 1, "ts": round(self._now(), 3), "args": {"report": line}})  # fmt: skip

    def abandoned(self) -> None:
        end = self._now()
        while self._open:  # over without a return (an exit, a failed initialiser): they end now
            self._complete(self._open.pop(), end, {"unfinished": True})

    def finished(self) -> None:
        self.abandoned()  # the run ended inside these crossings: they end with it
        _write_atomically(self.path, json.dumps({"traceEvents": self._events}, indent=None) + "\n")

    def libraries_changed(self) -> None:
        pass


@dataclass
class CallGraph:
    """``--graph FILE.dot``: who called whom through which gates, how often (module docstring)."""

    path: Path
    _compartments: dict[str, None] = field(default_factory=dict)  # in order of appearance
    _calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def entered(self, event: CrossingEvent) -> None:
        self._compartments.setdefault(event.caller)
        self._compartments.setdefault(event.callee)
        self._calls[event.caller, event.callee, event.gate] += 1

    def returned(self, event: CrossingEvent) -> None:
        pass

    def reported(self, line: str, compartment: str | None, fault: Fault | None = None) -> None:
        pass

    def abandoned(self) -> None:
        pass

    def finished(self) -> None:
        _write_atomically(self.path, self.dot())

    def libraries_changed(self) -> None:
        pass

    def dot(self) -> str:
        lines = ["digraph crossings {", "  rankdir=LR;", "  node [shape=box];"]
        lines += [f"  {_quote(name)};" for name in self._compartments]
        edges: dict[tuple[str, str], list[str]] = {}
        for (caller, callee, gate), count in self._calls.items():
            edges.setdefault((caller, callee), []).append(f"{gate} x{count}")
        for (caller, callee), gates in edges.items():
            lines.append(f"  {_quote(caller)} -> {_quote(callee)} [label={_quote(chr(10).join(gates))}];")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A DOT string: double-quoted, with backslashes, quotes and newlines escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
