"""The debugger of the Python API: a ``twzemu.Session``'s calls stopped at breakpoints and stepped an instruction
at a time (through gate crossings too), from Python (README "Python API").

    with Session(library_dirs=["."]) as s, Debugger(s) as d:
        d.break_at("libfoo.so", "foo_add")
        d.call("libfoo.so", "foo_add", 2, 40)   # Paused(where='foo_add+0x0', ...)
        d.register("rdi")                       # 2
        d.step()                                # Paused(where='foo_add+0x4', ...)
        d.cont()                                # Finished(result=42)

A call runs on a thread of its own; at each stop the debugger session (``DebugSession``, the gdb stub's too) asks
this controller how to go on, and the controller waits for the caller's next ``step`` or ``cont``, so between two
stops the guest stands still and registers and memory can be read.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from ..errors import TwzEmuError
from ..machine.events import Stop
from ..monitor.call import GateNameError, Library, Session
from ..monitor.observe import TRACE_PREFIX
from ..monitor.threads import ThreadView
from .backtrace import Frame
from .session import DebugSession, Resume


@dataclass(frozen=True, slots=True)
class Paused:
    """The call stands still: at ``rip`` (``where``, as SYMBOL+0xOFF) in ``compartment``. ``reason``: ``breakpoint``,
    ``step``, ``watchpoint`` or ``fault``; ``messages``: the crossings the step made, a violation's report line."""

    rip: int
    where: str
    compartment: str
    reason: str
    messages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """The call returned ``result`` (as ``Library.call`` returns it)."""

    result: int | str | None


Event = Paused | Finished


class Debugger:
    """Breakpoints, stepping and a look at registers and memory during a ``Session``'s calls (module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._debug = DebugSession(self)
        self._events: queue.Queue[Event | BaseException] = queue.Queue()
        self._commands: queue.Queue[Resume] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._starting = False  # the call's first stop (before its first instruction) goes on by itself
        self._detach: Callable[[], None] | None = None

    def __enter__(self) -> Debugger:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        """End a call still paused (it fails as an interrupted call would) and leave the machine alone."""
        if self._worker is not None:
            self._commands.put(Resume.KILL)
            with contextlib.suppress(TwzEmuError):
                self._next()
        if self._detach is not None:
            self._detach()
            self._detach = None

    # -- breakpoints ------------------------------------------------------------------------------------------

    def break_at(self, library: str, symbol: str | None = None) -> int:
        """A breakpoint at ``symbol`` of ``library`` (loaded into the session if it is not), or at the address
        ``library`` gives (``0x...``); returns its address."""
        address = self._address(library, symbol)
        self._debug.breakpoints.add(address)
        return address

    def remove_breakpoint(self, library: str, symbol: str | None = None) -> None:
        self._debug.breakpoints.discard(self._address(library, symbol))

    def break_at_crossings(self, on: bool = True) -> None:
        """Stop at every gate entry and return (gdb's ``monitor break-crossings on``)."""
        self._debug.break_crossings = on

    def _address(self, library: str, symbol: str | None) -> int:
        if symbol is not None:
            return self.session.address_of(library, symbol)
        try:
            return int(library, 0)
        except ValueError:
            raise GateNameError(f"{library!r} is not an address: name a library and a symbol") from None

    # -- running ------------------------------------------------------------------------------------------------

    def call(self, library: Library | str, function: str, *arguments: int | str | bytes) -> Event:
        """Start calling ``function`` of ``library`` as ``Library.call`` does; it runs to its first stop (a
        breakpoint, a fault) or to its end. Errors of the call (``CallError``) are raised where it ends."""
        if self._worker is not None:
            raise TwzEmuError("a call is under way: step or cont it to its end first")
        name = library.name if isinstance(library, Library) else library
        self.session.load(name)
        self._attach()
        self._starting = True

        def work() -> None:
            try:
                self._events.put(Finished(self.session.call(name, function, list(arguments))))
            except BaseException as error:  # handed to the caller's thread, raised there
                self._events.put(error)

        self._worker = threading.Thread(target=work, name=f"twzemu call {function}", daemon=True)
        self._worker.start()
        return self._next()

    def step(self) -> Event:
        """One instruction (a crossing's gate entry or return is one step: ``messages`` says so)."""
        return self._resume(Resume.STEP)

    def cont(self) -> Event:
        """On to the next breakpoint, or the end of the call."""
        return self._resume(Resume.CONTINUE)

    def _resume(self, how: Resume) -> Event:
        if self._worker is None:
            raise TwzEmuError("no call is under way: start one with call()")
        self._commands.put(how)
        return self._next()

    def _next(self) -> Event:
        event = self._events.get()
        if isinstance(event, Paused):
            return event
        assert self._worker is not None
        self._worker.join()
        self._worker = None
        if self._detach is not None:
            self._detach()
            self._detach = None
        if isinstance(event, BaseException):
            raise event
        return event

    def _attach(self) -> None:
        """Debug the session's machine for one call (between calls the session runs as if no debugger were there)."""
        booted = self.session.boot()
        self._debug.attach(booted.machine)
        self._debug.monitor = booted.monitor
        self._debug.linked = booted.linked
        self._debug.begin()
        crossings = booted.run.crossings
        assert crossings is not None
        remove = crossings.observe(self._debug)

        def detach() -> None:
            remove()
            if booted.machine.debugger is self._debug:
                booted.machine.debugger = None

        self._detach = detach

    # -- the controller (DebugSession calls these on the call's thread) -------------------------------------------

    def stopped(self, stop: Stop | None, messages: Sequence[str] = ()) -> Resume:
        if stop is None and self._starting:
            self._starting = False
            return Resume.CONTINUE
        rip = self._debug.register("rip")
        state = self._debug.compartment()
        reason = stop.reason.value if stop is not None else "step"
        words = tuple(message.removeprefix(TRACE_PREFIX) for message in messages)  # as Session.crossings words them
        self._events.put(Paused(rip, self._debug.symbolize(rip), state.name if state else "?", reason, words))
        return self._commands.get()

    def running(self, interrupt: Callable[[], None]) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    # -- looking around while paused --------------------------------------------------------------------------------

    def register(self, name: str) -> int:
        """A register as gdb names it (``rax`` ... ``r15``, ``rip``, ``eflags``, ``fs_base``, ...)."""
        self._paused()
        return self._debug.register(name)

    def set_register(self, name: str, value: int) -> None:
        self._paused()
        self._debug.set_register(name, value)

    def read(self, address: int, length: int, compartment: str | None = None) -> bytes:
        """Memory as the compartment the call stands in sees it (or ``compartment``): only what it may read."""
        self._paused()
        return self._debug.read_memory(address, length, compartment)

    def threads(self) -> list[ThreadView]:
        """Every live thread of the paused call's run: id, the compartment it is in, whether it is the one that
        stopped (and, for the others, the registers they stopped with)."""
        self._paused()
        return self._debug.threads()

    def backtrace(self) -> list[Frame]:
        """The call's frames, innermost first, across the crossings it made."""
        self._paused()
        return self._debug.backtrace()

    def frames(self) -> list[str]:
        """Each frame's pc as ``SYMBOL+0xOFF``, innermost first."""
        return [self._debug.symbolize(frame.pc) for frame in self.backtrace()]

    def _paused(self) -> None:
        if self._worker is None:
            raise TwzEmuError("no call is paused: start one with call() and stop it at a breakpoint")
