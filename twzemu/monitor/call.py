"""Calling functions of libraries: ``twzemu call LIBRARY FUNCTION ARG…`` and ``twzemu.Session`` (RFC 0008
"Interaction").

A ``Session`` is one machine for many calls, so a library's state persists from call to call:

1. **link** the runtime's caller program (``twzcall``, built beside the runtime on first use) with every loaded library
   preloaded, boot a machine, build the compartments and run the libraries' initialisers;
2. **convert** each argument by its parameter's C type from the library's DWARF (``elf.signatures``): integers
   from decimal or ``0x`` hex, ``char *`` from a string, copied into the calling compartment's gate buffer (a gate
   receives it as its message). Without DWARF every argument must be an integer;
3. **call**: a gate is called by the caller program's ``twz_call_now``, from a compartment of its own, so the
   call is a real crossing (the caller counts as bound to that gate); a nando (a plain exported function) is
   called by the monitor inside its library's compartment, as a library call would run. The result is read by
   the function's return type: an integer, a pointer, the string it points to (read as the calling compartment
   may read it), or nothing for ``void``.

Errors are typed as RFC 0008 types them (``CallError``: ``GateTypeError``, ``GateNameError``,
``GateSecurityError``); a callee that faults or violates isolation is reported and the session goes on.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from ..abi import GATE_BUFFER_SIZE
from ..elf.dynamic import SymbolKind
from ..elf.signatures import CKind, CParameter, Signature, signatures
from ..errors import LinkError, LinkErrorKind, ObjectError, TwzEmuError
from ..linker.link import GateBinding, LinkedLibrary, LinkedProgram
from ..linker.lookup import exports_of
from ..machine.events import StopReason
from ..machine.machine import Machine
from ..machine.snapshot import Snapshot, take
from ..mmu.pte import Prot
from ..mmu.space import Access, AddressSpace
from ..objects.layout import U64_MASK
from ..objects.objid import ObjId
from ..objects.store import ObjectStore
from ..security.ids import PROGRAM
from ..toolchain import Toolchain
from .crossing import CompartmentState
from .layout import GATE_BUFFER
from .monitor import Monitor, Run, RunResult
from .objects import Grant, id_bytes
from .observe import TRACE_PREFIX, TextTrace

_OBJECT_ID = re.compile(r"\btwz_objid\b")  # <twz/object.h>'s id: an argument names the object


class CallError(TwzEmuError):
    """A call that could not be made or did not return; ``str`` is the one line (``Type Error: …``)."""

    exit_status = 1
    prefix = ""  # RFC 0008's typed errors stand alone
    label = "Call Error"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.label}: {message}")


class GateTypeError(CallError):
    label = "Type Error"


class GateNameError(CallError):
    label = "Name Error"


class GateSecurityError(CallError):
    label = "Security Error"


@dataclass(frozen=True, slots=True)
class RunOutput:
    """What ``Session.run`` gives back: the exit status and the program's output."""

    status: int
    stdout: str
    stderr: str


class Library:
    """A library loaded into a ``Session``: call its functions with ``call``."""

    def __init__(self, session: Session, name: str) -> None:
        self.session = session
        self.name = name

    def call(self, function: str, *arguments: int | str | bytes) -> int | str | None:
        """Call ``function`` with ``arguments`` (ints; ``str`` or ``bytes`` for ``char *``): its result (an int,
        a ``str`` for ``char *``, None for ``void``)."""
        return self.session.call(self.name, function, list(arguments))

    def __repr__(self) -> str:
        return f"<Library {self.name}>"


@dataclass(slots=True)
class Booted:
    """The session's machine, and the run of the caller program on it."""

    machine: Machine
    linked: LinkedProgram
    run: Run
    monitor: Monitor


class Session:
    """One machine on which libraries are loaded and their functions called (module docstring).

    ``with Session(library_dirs=["."]) as s: s.load("libfoo.so").call("foo_add", 2, 40)``. Loading a library after
    a call starts a new machine (what was called before is gone)."""

    def __init__(self, library_dirs: list[str] | tuple[str, ...] = (), store: ObjectStore | None = None,
                 trace: bool = True, grants: Sequence[Grant] = (), timeout: float | None = None) -> None:  # fmt: skip
        self.library_dirs = [Path(d) for d in library_dirs]
        self.timeout = timeout  # seconds a call may run (None: no limit); one running longer fails, the rest go on
        self.grants = tuple(grants)  # what compartments may map of the store besides their own objects
        self.store = store if store is not None else ObjectStore.in_memory()
        self.output = io.BytesIO()  # what the libraries print
        self._trace = io.StringIO() if trace else None  # the crossings, as --trace words them
        self._loaded: list[str] = []
        self._booted: Booted | None = None
        self._linked: tuple[Monitor, LinkedProgram] | None = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        """Drop the machine; the objects its guests made persistent go to the store first."""
        if self._booted is not None:
            try:
                self._booted.run.objects.write_back()
            finally:
                self._booted.machine.close()
                self._booted = None

    def load(self, library: str, *others: str) -> Library:
        """Load ``library`` (a path, or a name searched like a ``DT_NEEDED`` name), and ``others`` with it (libraries
        that need each other load together)."""
        new = [name for name in dict.fromkeys((library, *others)) if name not in self._loaded]
        if new:
            linked = self._link([*self._loaded, *new])  # a library that cannot be loaded changes nothing
            self._loaded += new
            self.close()
            self._linked = linked  # what the next boot runs
        return Library(self, library)

    def run(self, program: str, argv: list[str] | tuple[str, ...] = (), timeout: float | None = None) -> RunOutput:
        """Run ``program`` on a machine of its own, as ``twzemu run`` does."""
        out, err = io.BytesIO(), io.BytesIO()
        monitor = Monitor(self.store, out, err, library_dirs=self.library_dirs)
        result: RunResult = monitor.run(program, list(argv), timeout)
        return RunOutput(
            result.status, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")
        )

    def functions(self, library: str) -> dict[str, Signature | None]:
        """Every function ``library`` exports (its gates among them), with its signature where DWARF says it."""
        self.load(library)
        booted = self.boot()
        instance = next(lib for lib in booted.linked.libraries if lib.name == library)
        names = sorted(name for name, symbol in exports_of(instance.info).items() if symbol.kind is SymbolKind.FUNC)
        known = signatures(instance.loaded.image, names)
        return {name: known.get(name) for name in names}

    # -- snapshots ------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The session's machine and the monitor's records as they are now (``machine.snapshot``), to ``restore``
        as many times as wanted: a property test boots once and runs each case from here."""
        if self.store.path is not None:
            raise CallError(f"a snapshot needs the session's store in memory: store {self.store.path} writes files a "
                            "restore could not take back")  # fmt: skip
        booted = self.boot()
        return take(booted.machine, [booted.run, booted.monitor, self])

    def restore(self, snapshot: Snapshot) -> None:
        """Everything as it was when ``snapshot`` was taken: registers, memory, the libraries' state, the
        output and the crossings so far."""
        if self._booted is None or snapshot.machine is not self._booted.machine:
            raise CallError("the snapshot is of another machine (the session was closed, or a library loaded since "
                            "started a new one)")  # fmt: skip
        snapshot.restore()

    # -- looking inside -----------------------------------------------------------------------------------

    def compartments(self) -> dict[str, tuple[str, ...]]:
        """Each compartment of the session's machine (the caller program's first), with its libraries' names."""
        booted = self.boot()
        return {c.name: tuple(Path(lib.name).name for lib in c.libraries) for c in booted.linked.compartments}

    def address_of(self, library: str, symbol: str) -> int:
        """Where ``symbol`` of ``library`` (loaded) is."""
        self.load(library)
        booted = self.boot()
        instance = next(lib for lib in booted.linked.libraries if lib.name == library)
        if instance.loaded.image.symbol_named(symbol) is None:
            raise GateNameError(f"no symbol {symbol} in {Path(library).name}")
        return _symbol(instance, symbol)

    def read(self, address: int, length: int, compartment: str) -> bytes:
        """``length`` bytes at ``address`` as ``compartment`` sees them: through its own page tables, and only
        what it may read (``GateSecurityError`` naming the address otherwise)."""
        space = self._space_of(compartment, address, length, Access.READ)
        return space.read_virtual(address, length)

    def write(self, address: int, data: bytes, compartment: str) -> None:
        """Write ``data`` at ``address`` as ``compartment`` would: only where it may write."""
        space = self._space_of(compartment, address, len(data), Access.WRITE)
        space.write_virtual(address, data)

    def may(self, address: int, length: int, compartment: str, access: Access = Access.READ) -> bool:
        """Whether ``compartment`` may read (or write: ``Access.WRITE``) ``length`` bytes at ``address``."""
        try:
            self._space_of(compartment, address, length, access)
        except GateSecurityError:
            return False
        return True

    def crossings(self) -> list[str]:
        """Every gate entry and return so far (the libraries' initialisers' included), as ``--trace`` words them
        (``enter T1 CALLER -> CALLEE GATE(ARGUMENTS)``, ``return T1 CALLEE -> CALLER GATE = RESULT``); empty when
        the session was made with ``trace=False``."""
        lines = self._trace.getvalue().splitlines() if self._trace is not None else []
        return [line.removeprefix(TRACE_PREFIX) for line in lines]

    def objects(self) -> dict[str, str]:
        """The objects of the session's machine, id -> what the monitor calls it: each library's text and data,
        each compartment's stack, heap, thread area and gate buffer."""
        booted = self.boot()
        labels = {str(obj.id): label for label, obj in booted.run.builder.objects.items()}
        compartments = {c.id: c.name for c in booted.linked.compartments}
        for instance in booted.linked.libraries:
            name = f"{compartments[instance.compartment]}:{Path(instance.name).name}"
            labels[str(instance.loaded.text.id)] = f"{name} text"
            labels[str(instance.loaded.data.id)] = f"{name} data"
        return labels

    def object_at(self, address: int, compartment: str) -> str | None:
        """What the monitor calls the object ``compartment`` has mapped at ``address`` (``objects``), or None."""
        mapping = self._state_of(compartment).space.mapping_at(address)
        if mapping is None:
            return None
        return self.objects().get(str(mapping.backing.key), f"object {mapping.backing.key}")

    def _state_of(self, compartment: str) -> CompartmentState:
        booted = self.boot()
        state = next((st for st in booted.run.states.values() if st.name == compartment), None)
        if state is None:
            known = ", ".join(st.name for st in booted.run.states.values())
            raise GateNameError(f"no compartment {compartment} (the compartments: {known})")
        return state

    def _space_of(self, compartment: str, address: int, length: int, access: Access) -> AddressSpace:
        state = self._state_of(compartment)
        if not state.space.user_may(address, length, access):
            verb = "read" if access is Access.READ else "write"
            where = self.boot().run.symbols.name(address)
            raise GateSecurityError(f"{compartment} may not {verb} {length} bytes at {where} ({address:#x})")
        return state.space

    # -- calls ------------------------------------------------------------------------------------------

    def call(self, library: str, function: str, arguments: list[int | str | bytes]) -> int | str | None:
        self.load(library)
        booted = self.boot()
        instance = next(lib for lib in booted.linked.libraries if lib.name == library)
        gate = next((g for g in booted.linked.gates if g.name == function and g.owner == instance.compartment), None)
        if gate is not None:
            where, entry = booted.run.states[PROGRAM], _symbol(booted.linked.program, "twz_call_now")
            booted.run.program.space.write_virtual(
                booted.linked.program.base + _symbol_offset(booted.linked.program, "twz_call_target"),
                gate.entry.to_bytes(8, "little"),
            )
        else:
            where, entry = booted.run.states[instance.compartment], _nando(booted.linked, library, function)
        signature = signatures(instance.loaded.image, [function]).get(function)
        registers = self._arguments(function, signature, arguments, instance.loaded.image.path, where)
        mark = self.output.tell()
        crossings = booted.run.crossings
        assert crossings is not None
        stop = crossings.call(where, entry, self.timeout, arguments=registers)
        reports = [line for line in self.output.getvalue()[mark:].decode(errors="replace").splitlines()
                   if line.startswith("twzemu: ")]  # fmt: skip
        if stop.reason is not StopReason.RETURNED:
            crossings.reset()
            if stop.fault is not None:
                reports.append(booted.run.violation_line(stop.fault, crossings.current or where))
            what = reports[-1] if reports else f"it did not return ({stop.reason.value})"
            raise GateSecurityError(f"Failed to call {function} in {Path(library).name}: {what}")
        if any(" violation: " in line or " fault: " in line for line in reports):
            raise GateSecurityError(f"Failed to call {function} in {Path(library).name}: {reports[-1]}")
        return self._result(stop.exit_code or 0, signature, where, function, library)

    def boot(self) -> Booted:
        """The session's machine and the run on it (booted now if it was not; the debugger attaches to it)."""
        if self._booted is not None:
            return self._booted
        monitor, linked = self._linked or self._link(self._loaded)
        self._linked = None  # a link's objects belong to the machine that runs it
        caller = linked.program.name
        # the caller is bound to every gate it may call: it sees a callee's memory as that gate's level allows
        bindings = {GateBinding(PROGRAM, g.name) for g in linked.gates if g.owner > PROGRAM}
        linked = replace(linked, bindings=linked.bindings | bindings)
        machine = Machine(monitor.ram_size)
        machine.boot()
        try:
            run = monitor.start(machine, linked, [caller])
            if run.early_stop is not None:
                raise GateSecurityError(f"the libraries did not initialise ({run.early_stop.reason.value})")
        except BaseException:
            machine.close()
            raise
        self._booted = Booted(machine, linked, run, monitor)
        return self._booted

    def _link(self, libraries: list[str]) -> tuple[Monitor, LinkedProgram]:
        """The caller program linked with ``libraries`` preloaded, by a monitor of this session."""
        caller = str(Toolchain.locate().caller_program())
        observers = [TextTrace(self._trace)] if self._trace is not None else []
        monitor = Monitor(self.store, self.output, self.output, library_dirs=self.library_dirs, observers=observers,
                          grants=self.grants)  # fmt: skip
        try:
            return monitor, monitor.link(caller, libraries)
        except LinkError as error:
            if error.kind is LinkErrorKind.LIBRARY_NOT_FOUND:
                raise GateNameError(
                    f"no library {libraries[-1]} (searched -L, the store's names and the runtime)"
                ) from None
            raise

    def _arguments(self, function: str, signature: Signature | None, arguments: list[int | str | bytes],
                   path: str, where: CompartmentState) -> list[int]:  # fmt: skip
        """Each argument as a register value, by its parameter's type; strings into ``where``'s gate buffer."""
        if signature is not None and not signature.variadic and len(arguments) != len(signature.parameters):
            count = len(signature.parameters)
            raise GateTypeError(f"{function}({_parameters(signature)}) takes {count} argument{'s' * (count != 1)}, "
                                f"not {len(arguments)}")  # fmt: skip
        if len(arguments) > 6:
            raise GateTypeError(f"{function} takes at most 6 arguments (in registers)")
        registers, strings = [], b""
        for index, value in enumerate(arguments):
            parameter = signature.parameters[index] if signature and index < len(signature.parameters) else None
            kind = parameter.type.kind if parameter else CKind.SIGNED
            if kind is CKind.STRING:
                text = value.encode() if isinstance(value, str) else bytes(value) if isinstance(value, bytes) else None
                if text is None:
                    raise GateTypeError(f"{function}: parameter {parameter.name} has C type {parameter.type.text}: "
                                        f"{value!r} is not a string")  # fmt: skip
                registers.append(GATE_BUFFER + len(strings))
                strings += text + b"\0"
                continue
            if parameter is not None and kind is CKind.POINTER and _OBJECT_ID.search(parameter.type.text):
                while len(strings) % 8:
                    strings += b"\0"
                registers.append(GATE_BUFFER + len(strings))
                strings += id_bytes(self._object(function, parameter, value))
                continue
            if kind is CKind.OTHER:
                assert parameter is not None
                raise GateTypeError(f"{function}: parameter {parameter.name} has C type {parameter.type.text}, "
                                    "which twzemu cannot pass")  # fmt: skip
            number = _integer(value)
            if number is None:
                if parameter is None:
                    raise GateTypeError(f"{function}: argument {index + 1} {value!r} is not an integer, and {path} "
                                        "lacks -g debug information to say it takes a string")  # fmt: skip
                raise GateTypeError(f"{function}: parameter {parameter.name} has C type {parameter.type.text}: "
                                    f"{value!r} is not an integer (decimal or 0x hex)")  # fmt: skip
            registers.append(number & U64_MASK)
        if strings:
            if len(strings) > GATE_BUFFER_SIZE:
                raise GateTypeError(f"{function}: its strings take {len(strings)} bytes, more than the gate buffer")
            crossings = self._booted.run.crossings if self._booted else None
            assert crossings is not None
            crossings.engine.reply(where.id, strings)  # the calling compartment's message
        return registers

    def _object(self, function: str, parameter: CParameter, value: int | str | bytes) -> ObjId:
        """The object an argument names: its name, looked up as the naming service looks it up, or its id."""
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        try:
            return ObjId.parse(text)
        except ObjectError:
            pass
        found = self.boot().run.objects.lookup(text)
        if found is None:
            where = self.store.path or "the store"
            raise GateNameError(f"{function}: parameter {parameter.name}: no object named {text} in {where}")
        return found

    def _result(self, value: int, signature: Signature | None, where: CompartmentState, function: str,
                library: str) -> int | str | None:  # fmt: skip
        kind = signature.result.kind if signature else CKind.SIGNED
        if kind is CKind.VOID:
            return None
        if kind is CKind.STRING:
            return None if value == 0 else self._string(value & U64_MASK, where, function, library)
        value &= U64_MASK
        if kind is CKind.POINTER:
            return value
        return value - (1 << 64) if value >> 63 else value

    def _string(self, address: int, where: CompartmentState, function: str, library: str) -> str:
        """The string at ``address`` as the calling compartment may read it (in the page tables it called from)."""
        assert self._booted is not None
        space = where.space
        mapping = space.mapping_at(address)
        if mapping is None or not mapping.prot & Prot.READ:
            raise GateSecurityError(f"Failed to call {function} in {Path(library).name}: its result {address:#x} "
                                    f"is not readable by {where.name}")  # fmt: skip
        data = space.read_virtual(address, min(GATE_BUFFER_SIZE, ((address | 0xFFF) + 1) - address))
        return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def _integer(value: int | str | bytes) -> int | None:
    if isinstance(value, int):
        return value
    text = value.decode() if isinstance(value, bytes) else value
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.removeprefix("+"))
    try:
        return sign * (int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits, 10))
    except ValueError:
        return None


def _parameters(signature: Signature) -> str:
    return str(signature).split("(", 1)[1].rstrip(")")


def _symbol_offset(program: LinkedLibrary, name: str) -> int:
    symbol = program.loaded.image.symbol_named(name)
    if symbol is None:
        raise TwzEmuError(f"{program.loaded.image.path}: no symbol {name} (rebuild the runtime with make)")
    return symbol.st_value


def _symbol(program: LinkedLibrary, name: str) -> int:
    return program.base + _symbol_offset(program, name)


def _nando(linked: LinkedProgram, library: str, function: str) -> int:
    for instance in linked.libraries:
        if instance.name == library:
            symbol = exports_of(instance.info).get(function)
            if symbol is not None and symbol.kind is SymbolKind.FUNC:
                return instance.base + symbol.value
    raise GateNameError(f"no function {function} exported by {Path(library).name}")


def call(library: str, function: str, arguments: list[str], library_dirs: list[str] | tuple[str, ...] = (),
         store: ObjectStore | None = None, grants: Sequence[Grant] = ()) -> tuple[str | None, bytes]:  # fmt: skip
    """``twzemu call``: the result as the CLI prints it (None: nothing) and what the library printed."""
    with Session(library_dirs, store, trace=False, grants=grants) as session:
        signature_kind: CKind | None = None
        result = session.load(library).call(function, *arguments)
        booted = session._booted
        if booted is not None:
            instance = next(lib for lib in booted.linked.libraries if lib.name == library)
            signature = signatures(instance.loaded.image, [function]).get(function)
            signature_kind = signature.result.kind if signature else None
        output = session.output.getvalue()
    if result is None:
        return None, output
    if signature_kind is CKind.POINTER and isinstance(result, int):
        return f"{result:#x}", output
    return str(result), output


__all__ = ["CallError", "GateNameError", "GateSecurityError", "GateTypeError", "Library", "RunOutput", "Session",
           "call"]  # fmt: skip
