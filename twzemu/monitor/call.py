"""Calling one function of a library: ``twzemu call LIBRARY FUNCTION ARG…`` (RFC 0008 "Interaction").

1. **link** the runtime's caller program (``twzcall``, built with the runtime) with LIBRARY preloaded. A gate of
   LIBRARY is called from the caller's own compartment, so the call is a real crossing; a nando (a plain exported
   function) runs inside LIBRARY's compartment, as a library call would (LIBRARY is then loaded into the
   caller's compartment);
2. **convert** each argument by the parameter's C type from LIBRARY's DWARF (``elf.signatures``): integers from
   decimal or ``0x`` hex, ``char *`` from a string, copied into the caller's gate buffer (a gate receives it as its
   message). Without DWARF every argument must be an integer;
3. **run**: the caller passes the arguments in registers, calls, and leaves the result as text (signed, unsigned,
   pointer, string, or nothing for ``void``), which is read back from its memory after the run.

Errors are typed as RFC 0008 types them (``CallError``: ``Type Error``, ``Name Error``, ``Security Error``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..elf.dynamic import SymbolKind
from ..elf.image import ElfImage
from ..elf.signatures import CKind, CType, Signature, signatures
from ..errors import LinkError, LinkErrorKind, TwzEmuError
from ..linker.link import GateBinding, LinkedProgram
from ..linker.lookup import exports_of
from ..objects.layout import U64_MASK
from ..security.ids import PROGRAM
from ..toolchain import Toolchain
from .monitor import Monitor, Run

CALLER = "twzcall"  # the caller program, in the runtime's directory
# how the caller reads the result: integer types as signed decimal (RFC 0008's CLI), pointers in hex, strings
_READ = {CKind.SIGNED: "i", CKind.UNSIGNED: "i", CKind.POINTER: "p", CKind.STRING: "s", CKind.VOID: "v"}
_INTEGER = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)")


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
class CallResult:
    line: str | None  # the result as text; None for void
    output: bytes  # what the library printed (stdout and stderr, in order)


def call(monitor: Monitor, library: str, function: str, arguments: list[str]) -> CallResult:
    """Call ``function`` of ``library`` with ``arguments`` (module docstring); a ``CallError`` if it cannot."""
    caller = str(Toolchain.locate().runtime_dir / CALLER)
    output = io.BytesIO()
    monitor.stdout = monitor.stderr = output
    linked = _link(monitor, caller, library)
    owner, target = _find(linked, library, function)
    gate = owner is not None
    if not gate:  # a nando runs in its library's compartment: load the library into the caller's
        monitor.policy = replace(monitor.policy, no_isolate=monitor.policy.no_isolate | {library})
        linked = _link(monitor, caller, library)
        _, target = _find(linked, library, function)
    else:  # the caller is bound to the gate it calls: it may see the callee's memory as the gate's level allows
        linked = replace(linked, bindings=linked.bindings | {GateBinding(PROGRAM, function)})
    image = _image(linked, library)
    signature = signatures(image, [function]).get(function)
    argv = [f"{target:#x}", _READ.get(signature.result.kind, "i") if signature else "i"]
    argv += _convert(function, signature, arguments, image.path)
    line: list[str | None] = [None]

    def read_result(run: Run) -> None:
        symbol = linked.program.loaded.image.symbol_named("twz_call_line")
        if symbol is not None:
            data = run.states[PROGRAM].space.read_virtual(linked.program.base + symbol.st_value, 4096)
            line[0] = data.split(b"\0", 1)[0].decode("utf-8", "replace")

    result = monitor.run_linked(linked, caller, argv, inspect=read_result)
    reports = [
        text for text in output.getvalue().decode("utf-8", "replace").splitlines() if text.startswith("twzemu: ")
    ]
    if result.status != 0 or any(" violation: " in text or " fault: " in text for text in reports):
        what = reports[-1] if reports else f"the call ended with status {result.status}"
        raise GateSecurityError(f"Failed to call {function} in {Path(library).name}: {what}")
    void = signature is not None and signature.result.kind is CKind.VOID
    return CallResult(None if void else line[0], output.getvalue())


def _link(monitor: Monitor, caller: str, library: str) -> LinkedProgram:
    try:
        return monitor.link(caller, [library])
    except LinkError as error:
        if error.kind is LinkErrorKind.LIBRARY_NOT_FOUND:
            raise GateNameError(f"no library {library} (searched -L, the store's names and the runtime)") from None
        raise


def _image(linked: LinkedProgram, library: str) -> ElfImage:
    return next(lib.loaded.image for lib in linked.libraries if lib.name == library)


def _find(linked: LinkedProgram, library: str, function: str) -> tuple[int | None, int]:
    """(the gate's compartment, its entry) for a gate of ``library``; (None, address) for a nando."""
    instances = [lib for lib in linked.libraries if lib.name == library]
    owner = instances[0].compartment
    for gate in linked.gates:
        if gate.name == function and gate.owner == owner:
            return gate.owner, gate.entry
    for lib in instances:
        symbol = exports_of(lib.info).get(function)
        if symbol is not None and symbol.kind is SymbolKind.FUNC:
            return None, lib.base + symbol.value
    raise GateNameError(f"no function {function} exported by {Path(library).name}")


def _convert(function: str, signature: Signature | None, arguments: list[str], path: str) -> list[str]:
    """Each argument as the caller program takes it (``i<number>`` or ``s<text>``), by its parameter's type."""
    if signature is not None and not signature.variadic and len(arguments) != len(signature.parameters):
        count = len(signature.parameters)
        raise GateTypeError(f"{function}{_plain(signature)} takes {count} argument{'s' * (count != 1)}, "
                            f"not {len(arguments)}")  # fmt: skip
    if len(arguments) > 6:
        raise GateTypeError(f"{function} takes at most 6 arguments (in registers)")
    converted = []
    for index, text in enumerate(arguments):
        parameter = signature.parameters[index] if signature and index < len(signature.parameters) else None
        kind = parameter.type.kind if parameter else CKind.SIGNED
        if kind is CKind.STRING:
            converted.append("s" + text)
            continue
        if kind is CKind.OTHER:
            assert parameter is not None
            raise GateTypeError(f"{function}: parameter {parameter.name} has C type {parameter.type.text}, which "
                                "twzemu call cannot pass")  # fmt: skip
        if not _INTEGER.fullmatch(text):
            if parameter is None:
                raise GateTypeError(f"{function}: argument {index + 1} {text!r} is not an integer, and {path} lacks -g "
                                    "debug information to say it takes a string")  # fmt: skip
            raise GateTypeError(f"{function}: parameter {parameter.name} has C type {_spelled(parameter.type)}: "
                                f"{text!r} is not an integer (decimal or 0x hex)")  # fmt: skip
        sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
        value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
        converted.append(f"i{sign * value & U64_MASK}")
    return converted


def _spelled(ctype: CType) -> str:
    return ctype.text


def _plain(signature: Signature) -> str:
    return "(" + str(signature).split("(", 1)[1]


__all__ = ["CallError", "CallResult", "GateNameError", "GateSecurityError", "GateTypeError", "call"]
