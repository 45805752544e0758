"""Reading guest ELF files: the one place an ELF file is opened and parsed.

``ElfImage.open(path)`` validates that the file is something twzemu can load (a 64-bit little-endian x86-64
``ET_DYN``) and turns what the loader needs into plain records: loadable segments, the entry point, symbols.
The other modules that read ELF structures (``elf.dynamic``, ``elf.gates``, ``elf.parameters``,
``debug.callsites``) use its pyelftools view, ``ElfImage.elf``, and its program headers. Every problem — a
missing file, a truncated or corrupted header, another architecture — becomes an ``ElfError`` naming the file;
pyelftools' own exceptions never escape.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntFlag
from pathlib import Path

from elftools.common.exceptions import ELFError as PyElfError
from elftools.common.utils import struct_parse
from elftools.construct import Container
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..errors import ElfError

_MAGIC = b"\x7fELF"
_PYELFTOOLS_ERRORS = (PyElfError, ValueError, KeyError, IndexError, AssertionError, OSError, TypeError, OverflowError)


class SegmentFlags(IntFlag):
    """``p_flags`` (gABI "Program Header")."""

    X = 1
    W = 2
    R = 4


@dataclass(frozen=True, slots=True)
class Segment:
    """A ``PT_LOAD`` program header (field names as in the gABI)."""

    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_flags: SegmentFlags


@dataclass(frozen=True, slots=True)
class Symbol:
    st_name: str
    st_value: int
    st_size: int


class ElfImage:
    """A validated guest ELF file: its bytes, entry and segments; symbols are read on first use (reports need the
    full symbol table, linking does not)."""

    def __init__(self, path: str, data: bytes, elf: ELFFile) -> None:
        self.path = path
        self.data = data
        self.entry: int = elf.header.e_entry
        self.segments: tuple[Segment, ...] = tuple(_segments(path, elf, len(data)))
        self._elf = elf
        self._symbols: tuple[Symbol, ...] | None = None

    def __repr__(self) -> str:
        return f"ElfImage({self.path!r})"

    @classmethod
    def open(cls, path: str | Path) -> ElfImage:
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ElfError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise ElfError(f"{name}: is a directory, not an ELF file") from None
        except OSError as error:
            raise ElfError(f"{name}: cannot read: {error.strerror}") from None
        return cls.parse(name, data)

    @classmethod
    def parse(cls, name: str, data: bytes) -> ElfImage:
        if not data.startswith(_MAGIC):
            raise ElfError(f"{name}: not an ELF file")
        with elf_errors(name):
            elf = ELFFile(io.BytesIO(data))
            _check_kind(name, elf)
            return cls(name, data, elf)

    @property
    def elf(self) -> ELFFile:
        """The pyelftools view, for the modules that read more of the file (module docstring)."""
        return self._elf

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        if self._symbols is None:
            with elf_errors(self.path):
                self._symbols = tuple(_symbols(self._elf))
        return self._symbols

    def symbol_named(self, name: str) -> Symbol | None:
        return next((s for s in self.symbols if s.st_name == name), None)


@contextmanager
def elf_errors(name: str) -> Iterator[None]:
    """pyelftools (and a hostile file) may raise many things: each becomes one ElfError naming the file."""
    try:
        yield
    except ElfError:
        raise
    except _PYELFTOOLS_ERRORS as error:
        raise ElfError(f"{name}: malformed ELF file ({error})") from None


def _check_kind(name: str, elf: ELFFile) -> None:
    header = elf.header
    if elf.elfclass != 64 or not elf.little_endian:
        raise ElfError(f"{name}: not a 64-bit little-endian ELF file (twzemu runs x86-64 guests)")
    if header.e_machine != "EM_X86_64":
        raise ElfError(f"{name}: wrong architecture {header.e_machine} (twzemu runs x86-64 guests)")
    if header.e_type != "ET_DYN":
        raise ElfError(
            f"{name}: {header.e_type} is not loadable: twzemu loads position-independent ET_DYN programs and "
            "libraries (build with `twzemu cc`)"
        )


def iter_program_headers(elf: ELFFile) -> Iterator[Container]:
    """The raw ``Elf64_Phdr`` records (``iter_segments`` would also build a ``DynamicSegment``, which walks
    every section header)."""
    for index in range(elf.num_segments()):
        yield struct_parse(elf.structs.Elf_Phdr, elf.stream, elf["e_phoff"] + index * elf["e_phentsize"])


def _segments(name: str, elf: ELFFile, size: int) -> Iterator[Segment]:
    for header in iter_program_headers(elf):
        if header.p_type != "PT_LOAD":
            continue
        if header.p_offset + header.p_filesz > size or header.p_filesz > header.p_memsz:
            raise ElfError(f"{name}: segment at {header.p_vaddr:#x} lies outside the file (truncated?)")
        yield Segment(header.p_offset, header.p_vaddr, header.p_filesz, header.p_memsz,
                      SegmentFlags(header.p_flags & 7))  # fmt: skip


def _symbols(elf: ELFFile) -> Iterator[Symbol]:
    seen: set[tuple[str, int]] = set()
    for section in elf.iter_sections():
        if not isinstance(section, SymbolTableSection):
            continue
        for symbol in section.iter_symbols():
            kind = symbol["st_info"]["type"]
            if kind not in ("STT_FUNC", "STT_OBJECT") or symbol["st_shndx"] == "SHN_UNDEF" or not symbol.name:
                continue
            key = (symbol.name, symbol["st_value"])
            if key not in seen:
                seen.add(key)
                yield Symbol(symbol.name, symbol["st_value"], symbol["st_size"])
