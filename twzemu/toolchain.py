"""``twzemu cc``: gcc with the flags, headers, runtime and linker script of twzemu guests.

Every guest is position-independent code (``-fPIC``, programs too: globals shared across libraries then go
through the GOT and ``R_X86_64_COPY`` never appears), compiled as hosted C against twzemu's own C library
(``-nostdinc -nostdlib`` with ``guests/include`` and gcc's compiler headers — hosted, so ``main`` returns 0 when
it falls off its end, as C99 says), linked with ``guests/twz.ld`` into Twizzler's slot-pair layout.
Programs are ``ET_DYN`` without an interpreter, start in ``crt0.o`` and need ``libtwzrt.so``; libraries
(``-shared``) need ``libtwzrt.so`` too, so the runtime every compartment gets is an ordinary ``DT_NEEDED``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .errors import TwzEmuError

GUESTS_ENV = "TWZEMU_GUESTS"
RUNTIME_LIBRARY = "libtwzrt.so"


class ToolchainError(TwzEmuError):
    """gcc is missing, or the guest runtime has not been built."""


class Mode(Enum):
    COMPILE = "compile"  # -c, -S or -E: no linking
    PROGRAM = "program"
    LIBRARY = "library"  # -shared


@dataclass(frozen=True, slots=True)
class Toolchain:
    """Where the guest headers, linker script and runtime are."""

    guests: Path

    @classmethod
    def locate(cls) -> Toolchain:
        configured = os.environ.get(GUESTS_ENV)
        guests = Path(configured) if configured else Path(__file__).resolve().parent.parent / "guests"
        if not (guests / "twz.ld").exists():
            raise ToolchainError(f"cannot find the twzemu guest tree at {guests} (set {GUESTS_ENV})")
        return cls(guests)

    @property
    def include(self) -> Path:
        return self.guests / "include"

    @property
    def linker_script(self) -> Path:
        return self.guests / "twz.ld"

    @property
    def runtime_dir(self) -> Path:
        return self.guests / "build" / "rt"

    def gcc(self) -> str:
        gcc = os.environ.get("CC") or shutil.which("gcc")
        if not gcc:
            raise ToolchainError("gcc not found: twzemu cc needs gcc on PATH (or CC set)")
        return gcc

    def command(self, args: Sequence[str]) -> list[str]:
        """The gcc command line for ``twzemu cc ARGS``."""
        mode = mode_of(args)
        gcc = self.gcc()
        command = [gcc, *compile_flags(gcc, self.include)]
        if not any(a.startswith("-O") for a in args):
            command.append("-O2")
        command += args
        if mode is Mode.COMPILE:
            return command
        runtime = self.runtime_dir
        for needed in (runtime / "crt0.o", runtime / RUNTIME_LIBRARY):
            if not needed.exists():
                raise ToolchainError(f"the guest runtime is not built ({needed} is missing): run `make guests`")
        link = [f"-Wl,-T,{self.linker_script}", "-Wl,-z,norelro", "-Wl,--build-id=none", "-Wl,-z,nocopyreloc"]
        if mode is Mode.PROGRAM:  # programs export their symbols: gates of a program must be findable
            return [*command[:1], "-pie", "-rdynamic", "-Wl,--no-dynamic-linker", str(runtime / "crt0.o"), *command[1:],
                    *link, f"-L{runtime}", "-ltwzrt"]  # fmt: skip
        return [*command, *link, f"-L{runtime}", "-ltwzrt"]


def compile_flags(gcc: str, include: Path) -> list[str]:
    freestanding = subprocess.run([gcc, "-print-file-name=include"], capture_output=True, text=True, check=False)
    return [
        "-nostdlib",
        "-nostdinc",
        "-isystem",
        freestanding.stdout.strip(),
        "-I",
        str(include),
        "-fPIC",
        "-fno-stack-protector",
        "-fcf-protection=none",
        "-fno-asynchronous-unwind-tables",
    ]


def mode_of(args: Sequence[str]) -> Mode:
    if any(a in ("-c", "-S", "-E", "-M", "-MM") for a in args):
        return Mode.COMPILE
    return Mode.LIBRARY if "-shared" in args else Mode.PROGRAM


def run_cc(args: Sequence[str], verbose: bool = False) -> int:
    command = Toolchain.locate().command(args)
    if verbose:
        print(" ".join(command))
    try:
        return subprocess.run(command, check=False).returncode
    except OSError as error:
        raise ToolchainError(f"cannot run {command[0]}: {error.strerror}") from None
