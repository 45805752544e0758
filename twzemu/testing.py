"""Property tests of a library under twzemu: Hypothesis draws calls of its functions (their arguments by the C types
its DWARF gives) and probes of memory as a compartment sees it; every case runs on one booted machine, put back
to a snapshot before it (``Session.snapshot``), so a case costs a restore (about 0.2 ms), not a boot (60 ms).

    from hypothesis import given
    from twzemu.testing import Library

    vault = Library("libvault.so", library_dirs=["."])
    machine = vault.fixture()  # a pytest fixture: the library booted once per module

    @given(vault.calls("vault_put", "vault_get"))
    def test_it(machine, calls):
        results = machine.run(calls)  # every case from the snapshot
        ...

(README "Property tests of your own library" has the whole example.) ``Library.calls`` draws a list of ``Call``
(a function and its arguments); ``Library.arguments`` one function's arguments; ``Library.probes`` a ``Probe`` (a
compartment, an address in some object of the machine or outside any, a length). ``Machine.run`` restores and
makes the calls; ``Machine.read``, ``may`` and ``object_at`` look at memory through a compartment's own page
tables. A parameter whose type twzemu cannot pass (a struct) needs a strategy of your own:
``calls(..., strategies={"function": {"parameter": st.integers()}})``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import strategies as st

from .elf.signatures import CKind, CParameter, Signature
from .mmu.space import SLOT_SHIFT, Access
from .monitor.call import GateTypeError, Session
from .objects.layout import U64_MASK

GATE_BUFFER_TEXT = 200  # the longest string drawn (the gate buffer holds every string argument of a call)
_BITS = (("char", 8), ("short", 16), ("long", 64), ("int", 32))  # a type's width, by the first word found


@dataclass(frozen=True, slots=True)
class Call:
    """One call of ``function`` with ``arguments``; prints as C would write it."""

    function: str
    arguments: tuple[int | bytes, ...]

    def __repr__(self) -> str:
        return f"{self.function}({', '.join(map(repr, self.arguments))})"


@dataclass(frozen=True, slots=True)
class Probe:
    """``length`` bytes at ``address`` as ``compartment`` would touch them."""

    compartment: str
    address: int
    length: int

    def __repr__(self) -> str:
        return f"Probe({self.compartment!r}, {self.address:#x}, {self.length})"


class Machine:
    """The library booted once; ``run`` starts every case from the snapshot taken after boot."""

    def __init__(self, session: Session, library: str, others: Sequence[str] = ()) -> None:
        self.session = session
        self.library = library
        session.load(library, *others)
        self.compartment = _compartment_of(session, library)
        self._printed = session.output.tell()  # what the libraries' initialisers printed
        self._snapshot = session.snapshot()

    def restore(self) -> None:
        """Everything as it was after boot: memory, registers, the monitor's records, the output."""
        self.session.restore(self._snapshot)

    def call(self, function: str, *arguments: int | str | bytes, library: str | None = None) -> int | str | None:
        """One call of ``library``'s function (default: the library under test), from wherever the machine is
        now (``run`` restores first)."""
        return self.session.call(library or self.library, function, list(arguments))

    def run(self, calls: Sequence[Call]) -> list[int | str | None]:
        """Restore, then make ``calls`` in order: their results. A call that fails raises its ``CallError``,
        noted with the call and its place in the sequence."""
        self.restore()
        results = []
        for index, call in enumerate(calls):
            try:
                results.append(self.call(call.function, *call.arguments))
            except Exception as error:
                error.add_note(f"twzemu.testing: in call {index + 1} of {len(calls)}: {call!r}")
                raise
        return results

    def may(self, probe: Probe, access: Access = Access.READ) -> bool:
        """Whether the probe's compartment may read (or write) the probe's bytes, by its own page tables."""
        return self.session.may(probe.address, probe.length, probe.compartment, access)

    def read(self, probe: Probe) -> bytes:
        """The probe's bytes as its compartment reads them (``GateSecurityError`` where it may not)."""
        return self.session.read(probe.address, probe.length, probe.compartment)

    def object_at(self, probe: Probe) -> str | None:
        """The object the probe's compartment has mapped at its address, as ``Session.objects`` names it (None:
        nothing is mapped there)."""
        return self.session.object_at(probe.address, probe.compartment)

    def output(self) -> str:
        """What the library printed since the last restore."""
        return self.session.output.getvalue()[self._printed :].decode(errors="replace")


class Library:
    """A library to test: its strategies (``calls``, ``arguments``, ``probes``) and its ``fixture``."""

    def __init__(self, library: str, library_dirs: Sequence[str] = (), others: Sequence[str] = (),
                 timeout: float | None = 10.0) -> None:  # fmt: skip
        self.library = library
        self.timeout = timeout  # seconds a call may run: one that runs longer fails (GateSecurityError), not the run
        self.library_dirs = list(library_dirs)
        self.others = tuple(others)  # loaded with it (libraries that need each other load together)
        self._machine: Machine | None = None

    def machine(self) -> Machine:
        """The library booted (once, on first use) and put back to its snapshot."""
        if self._machine is None:
            session = Session(self.library_dirs, trace=False, timeout=self.timeout)
            self._machine = Machine(session, self.library, self.others)
        self._machine.restore()
        return self._machine

    def close(self) -> None:
        if self._machine is not None:
            self._machine.session.close()
            self._machine = None

    def fixture(self, scope: str = "module") -> Callable[..., Iterator[Machine]]:
        """A pytest fixture (assign it to a module-level name): the booted ``Machine``, closed after ``scope``."""

        @pytest.fixture(scope=scope)  # type: ignore[call-overload]
        def machine() -> Iterator[Machine]:
            yield self.machine()
            self.close()

        return machine

    # -- strategies -------------------------------------------------------------------------------------

    def arguments(
        self, function: str, strategies: Mapping[str, st.SearchStrategy[Any]] | None = None
    ) -> st.SearchStrategy[tuple]:
        """``function``'s arguments, each drawn by its parameter's C type (``strategies`` by parameter name first)."""
        return st.deferred(lambda: self._arguments(function, dict(strategies or {})))

    def calls(self, *functions: str, min_size: int = 1, max_size: int = 8,
              strategies: Mapping[str, Mapping[str, st.SearchStrategy[Any]]] | None = None,
              ) -> st.SearchStrategy[list[Call]]:  # fmt: skip
        """Lists of calls of ``functions`` (default: every function the library exports with a signature)."""
        chosen = dict(strategies or {})

        def build() -> st.SearchStrategy[list[Call]]:
            names = list(functions) or sorted(n for n, s in self._signatures().items() if s is not None)
            if not names:
                raise GateTypeError(f"{self.library} exports no function with DWARF signatures (build it with -g)")
            one = st.one_of([self.arguments(n, chosen.get(n)).map(lambda args, n=n: Call(n, args)) for n in names])
            return st.lists(one, min_size=min_size, max_size=max_size)

        return st.deferred(build)

    def probes(self, compartments: Sequence[str] = (), max_length: int = 16) -> st.SearchStrategy[Probe]:
        """Probes of memory: an address in one of the machine's objects (near its start, where data is, or
        anywhere in its slot) or outside any, read by one of ``compartments`` (default: every compartment)."""

        def build() -> st.SearchStrategy[Probe]:
            session = self.machine().session
            names = list(compartments) or list(session.compartments())
            bases = sorted({mapping.base for state in session.boot().run.states.values()
                            for mapping in state.space.iter_mappings()})  # fmt: skip
            near = st.builds(lambda base, offset: base + offset, st.sampled_from(bases), st.integers(0, 0x4000))
            anywhere = st.builds(lambda base, offset: base + offset, st.sampled_from(bases),
                                 st.integers(0, (1 << SLOT_SHIFT) - 1))  # fmt: skip
            addresses = st.one_of(near, anywhere, st.integers(0, U64_MASK))
            return st.builds(Probe, st.sampled_from(names), addresses, st.integers(1, max_length))

        return st.deferred(build)

    def _signatures(self) -> dict[str, Signature | None]:
        return self.machine().session.functions(self.library)

    def _arguments(self, function: str, chosen: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[tuple]:
        known = self._signatures()
        if function not in known:
            raise GateTypeError(f"no function {function} exported by {self.library}")
        signature = known[function]
        if signature is None:
            raise GateTypeError(f"{function} has no DWARF signature in {self.library} (build it with -g)")
        parts = [chosen[p.name] if p.name in chosen else _by_type(function, p) for p in signature.parameters]
        return st.tuples(*parts)


def _by_type(function: str, parameter: CParameter) -> st.SearchStrategy[Any]:
    kind = parameter.type.kind
    if kind is CKind.STRING:
        return st.binary(max_size=GATE_BUFFER_TEXT).map(lambda text: text.replace(b"\0", b""))
    if kind is CKind.POINTER:
        return st.one_of(st.just(0), st.integers(0, U64_MASK))
    if kind in (CKind.SIGNED, CKind.UNSIGNED):
        bits = _width(parameter.type.text)
        if bits == 1:
            return st.integers(0, 1)
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind is CKind.SIGNED else (0, (1 << bits) - 1)
        return _integers(low, high)
    given = f"strategies={{{function!r}: {{{parameter.name!r}: ...}}}}"
    raise GateTypeError(f"{function}: parameter {parameter.name} has C type {parameter.type.text}, which twzemu "
                        f"cannot draw: give it a strategy ({given})")  # fmt: skip


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    """Integers of ``[low, high]``: small ones, the values where sizes, indices and their off-by-ones lie (the
    edges, every power of two and its neighbours, as fuzzers' dictionaries of interesting values have them),
    and any."""
    powers = [1 << k for k in range(high.bit_length() + 1)]
    near = {p + d for p in powers for d in (-1, 0, 1)} | {-p + d for p in powers for d in (-1, 0, 1)}
    edges = sorted(x for x in near | {low, high, low + 1, high - 1, 0, 100, 1000} if low <= x <= high)
    tiny, small = st.integers(max(low, -1), min(high, 32)), st.integers(max(low, -300), min(high, 300))
    return st.one_of(tiny, small, st.sampled_from(edges), st.integers(low, high))


def _width(text: str) -> int:
    """The width in bits of an integer type as C spells it (64 when it cannot tell)."""
    if "bool" in text.lower():
        return 1
    digits = re.search(r"(8|16|32|64)_t\b", text)
    if digits:
        return int(digits.group(1))
    words = text.split()
    for word, bits in _BITS:
        if word in words:
            return bits
    return 64


def _compartment_of(session: Session, library: str) -> str:
    name = library.rsplit("/", 1)[-1]
    return next(c for c, libraries in session.compartments().items() if name in libraries)


__all__ = ["Call", "Library", "Machine", "Probe"]
