"""``twzemu cc``: gcc with the flags, headers, runtime and linker script of twzemu guests.

Every guest is position-independent code (``-fPIC``, programs too: globals shared across libraries then go
through the GOT and ``R_X86_64_COPY`` never appears), compiled as hosted C against musl (``-nostdinc -nostdlib``
with twzemu's own headers, musl's, then gcc's compiler headers — hosted, so ``main`` returns 0 when it falls off
its end, as C99 says), linked with ``twz.ld`` into Twizzler's slot-pair layout. All of that ships in the package
and the runtime is built from it on first use (``twzemu.sdk``). ``-lm``, ``-lpthread`` and ``-ldl`` find empty
archives, as with musl: it is all in ``libtwzrt.so``.
Programs are ``ET_DYN`` without an interpreter, start in ``crt0.o`` and need ``libtwzrt.so``; libraries
(``-shared``) need ``libtwzrt.so`` too, so the runtime every compartment gets is an ordinary ``DT_NEEDED``.
Each ``-L`` directory is also the linker's ``-rpath-link``, as twzemu's own search uses it at run time: a
library's ``DT_NEEDED`` found there too (ld itself looks for a library's dependencies only along rpath-link).

``scan`` reads a gcc command line the way gcc's driver does (which options take the next argument as their
value, ``gcc.cc`` ``DEFAULT_SWITCH_TAKES_ARG`` and the ``Separate`` options of ``common.opt``/``c.opt``), to tell
the input files and the ``-L`` directories from everything else.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from . import sdk
from .errors import ToolchainError, UsageError

CALLER = "twzcall"  # the caller program of `twzemu call`, built beside the runtime on first use


class ToolchainUsage(UsageError):
    """A ``twzemu cc`` command line gcc could do nothing with (no input file)."""


class Mode(Enum):
    COMPILE = "compile"  # -c, -S or -E: no linking
    PROGRAM = "program"
    LIBRARY = "library"  # -shared


@dataclass(frozen=True, slots=True)
class Toolchain:
    """gcc, and the runtime guests are built with (``twzemu.sdk``)."""

    runtime: sdk.Runtime

    @classmethod
    def locate(cls) -> Toolchain:
        """The runtime of this package, built first if it is not."""
        return cls(sdk.runtime())

    @property
    def include(self) -> Path:
        return sdk.INCLUDE

    @property
    def libc_include(self) -> Path:
        return self.runtime.libc_include

    @property
    def linker_script(self) -> Path:
        return sdk.LINKER_SCRIPT

    @property
    def runtime_dir(self) -> Path:
        return self.runtime.directory

    def gcc(self) -> str:
        return sdk.compiler()

    def caller_program(self) -> Path:
        """``twzcall``, the program ``twzemu call`` links the called library with: built on first use."""
        caller = self.runtime_dir / CALLER
        if not caller.exists():
            fd, temporary = tempfile.mkstemp(prefix=f".{CALLER}-", dir=self.runtime_dir)
            os.close(fd)
            try:
                sdk.run(self.command(["-O2", "-o", temporary, str(sdk.CALLER_SOURCE)]), f"building {CALLER}")
                os.replace(temporary, caller)  # atomic: concurrent first uses write the same program
            finally:
                Path(temporary).unlink(missing_ok=True)
        return caller

    def command(self, args: Sequence[str]) -> list[str]:
        """The gcc command line for ``twzemu cc ARGS``; ``ARGS`` must name an input file or only ask gcc
        something (``ToolchainUsage`` otherwise)."""
        scanned = scan(args)
        if not scanned.inputs:
            if not scanned.queries:
                raise ToolchainUsage("no input files: name a C, assembly or object file to build")
            return [self.gcc(), *args]  # --version, -print-file-name=...: gcc answers, nothing is built
        mode = mode_of(args)
        gcc = self.gcc()
        command = [gcc, *compile_flags(gcc, self.include, self.libc_include)]
        if not any(a.startswith("-O") for a in args):
            command.append("-O2")
        command += args
        if mode is Mode.COMPILE:
            return command
        runtime = self.runtime_dir
        link = [f"-Wl,-T,{self.linker_script}", "-Wl,-z,norelro", "-Wl,--build-id=none", "-Wl,-z,nocopyreloc"]
        for directory in scanned.library_dirs:  # -Xlinker, not -Wl: a directory may contain a comma
            link += ["-Xlinker", f"-rpath-link={directory}"]
        if mode is Mode.PROGRAM:  # programs export their symbols: gates of a program must be findable
            return [
                *command[:1],
                "-pie",
                "-rdynamic",
                "-Wl,--no-dynamic-linker",
                str(runtime / "crt0.o"),
                *command[1:],
                *link,
                f"-L{runtime}",
                "-ltwzrt",
                "-lgcc",
            ]
        return [*command, *link, f"-L{runtime}", "-ltwzrt", "-lgcc"]


def compile_flags(gcc: str, include: Path, libc_include: Path) -> list[str]:
    """twzemu's headers, then musl's, then gcc's own (intrinsics); position-independent, no stack protector."""
    return [
        "-nostdlib",
        "-nostdinc",
        "-I",
        str(include),
        "-isystem",
        str(libc_include),
        "-isystem",
        sdk.compiler_include(gcc),
        "-fPIC",
        "-fno-stack-protector",
        "-fcf-protection=none",
        "-fno-asynchronous-unwind-tables",
    ]


def mode_of(args: Sequence[str]) -> Mode:
    if any(a in ("-c", "-S", "-E", "-M", "-MM", "--compile", "--assemble", "--preprocess") for a in args):
        return Mode.COMPILE
    return Mode.LIBRARY if any(a in ("-shared", "--shared") for a in args) else Mode.PROGRAM


@dataclass(frozen=True, slots=True)
class GccArgs:
    """What ``scan`` finds in a gcc command line."""

    inputs: tuple[str, ...]  # source, object and archive files, ``-`` (standard input), ``@file`` (may hold some)
    library_dirs: tuple[str, ...]  # -L DIR, -LDIR, --library-directory[=]DIR, in order
    queries: tuple[str, ...]  # options that make gcc answer without building anything


# Options whose value may be the next argument (spelled alone; joined, ``-ofile``, the value is part of the word).
_TAKES_NEXT = frozenset(
    {
        # gcc.cc DEFAULT_SWITCH_TAKES_ARG, and -l, -z (Joined Separate in common.opt)
        *("-o", "-x", "-D", "-U", "-I", "-L", "-l", "-e", "-T", "-u", "-z", "-A", "-B", "-b", "-V"),
        # gcc.cc DEFAULT_WORD_SWITCH_TAKES_ARG and the Separate options of common.opt and c.opt
        *("-Tbss", "-Tdata", "-Ttext", "-include", "-imacros", "-idirafter", "-iprefix", "-iwithprefix"),
        *("-iwithprefixbefore", "-iquote", "-isystem", "-isysroot", "-imultilib", "-imultiarch", "-Xlinker"),
        *("-Xassembler", "-Xpreprocessor", "-MF", "-MT", "-MQ", "-aux-info", "-dumpbase", "-dumpbase-ext"),
        *("-dumpdir", "-wrapper", "-specs", "--param", "--sysroot"),
        # the driver's --long spellings that take an argument (gcc.cc option_map, "a")
        *("--output", "--language", "--library-directory", "--include-directory", "--include-directory-after"),
        *("--define-macro", "--undefine-macro", "--include", "--imacros", "--include-prefix", "--for-linker"),
        *("--include-with-prefix", "--include-with-prefix-before", "--include-with-prefix-after"),
        *("--for-assembler", "--force-link", "--entry", "--assert", "--machine", "--dumpbase", "--dumpdir"),
        *("--prefix", "--specs", "--std"),
    }
)
_QUERY_PREFIXES = ("--version", "-v", "--verbose", "-###", "-dump", "-print-", "--print-", "--target-help", "--help")


def scan(args: Sequence[str]) -> GccArgs:
    """Input files, library directories and queries of a gcc command line (module docstring)."""
    inputs: list[str] = []
    library_dirs: list[str] = []
    queries: list[str] = []
    words = iter(args)
    for word in words:
        if word == "-" or not word.startswith("-"):
            inputs.append(word)
        elif word in _TAKES_NEXT:
            value = next(words, None)
            if value is not None and word in ("-L", "--library-directory"):
                library_dirs.append(value)
        elif word.startswith("-L"):
            library_dirs.append(word[2:])
        elif word.startswith("--library-directory="):
            library_dirs.append(word.partition("=")[2])
        elif word.startswith(_QUERY_PREFIXES) and not word.startswith(("-dumpbase", "-dumpdir")):
            queries.append(word)
    return GccArgs(tuple(inputs), tuple(library_dirs), tuple(queries))


def run_cc(args: Sequence[str], verbose: bool = False) -> int:
    command = Toolchain.locate().command(args)
    if verbose:
        print(" ".join(command))
    import subprocess  # here: `twzemu run` and `call` import this module and would pay for it

    try:
        return subprocess.run(command, check=False).returncode
    except OSError as error:
        raise ToolchainError(f"cannot run {command[0]}: {error.strerror}") from None
