"""Reading guest ELF files: the one place an ELF file is opened and parsed.

``ElfImage.open(path)`` validates that the file is something twzemu can load (a 64-bit little-endian x86-64
``ET_DYN``) and turns what the loader needs into plain records: program headers, loadable segments, the entry
point. Every problem — a missing file, a truncated or corrupted header, another architecture — becomes an
``ElfError`` naming the file; pyelftools' own exceptions never escape (``elf_errors``, ``pyelftools_errors``).

Two readers, one result:

1. the ELF header and the program headers are fixed-size records, read with ``struct`` (microseconds, no
   import) whenever the file is a plain x86-64 ``ET_DYN`` whose program headers lie in the file;
2. anything else — another class, byte order, machine or type, a truncated header, ``PN_XNUM`` program headers —
   goes to pyelftools, which names what is wrong (``ET_EXEC``, ``EM_AARCH64``) or reads what the ``struct``
   reader declines to. Both check every ``PT_LOAD`` segment against the file in the same order.

What else is read from a file — symbols, gate records, code, DWARF, the section count — goes through pyelftools'
view, ``ElfImage.elf``, built (and pyelftools imported) on first use by ``elf.dynamic``, ``elf.gates``,
``elf.parameters`` and ``elf.callsites``. Each such result is a field of the image's entry in the derived-data
cache (``ElfImage.derived``; ``twzemu.cache``, keyed by the file's content and the ``elf`` package's code), so a
repeated run reads it back instead of parsing the file again, and imports neither pyelftools nor capstone.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntFlag
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..cache import DerivedCache, Entry, Json, json_int, json_str
from ..errors import ElfError

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

T = TypeVar("T")

_MAGIC = b"\x7fELF"
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr: e_ident, e_type, e_machine, e_version, e_entry, e_phoff…
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz…
_EI_CLASS, _EI_DATA = 4, 5
_E_SHOFF, _E_SHNUM = 6, 12  # their places in _EHDR
_ELFCLASS64, _ELFDATA2LSB = 2, 1
_EM_X86_64 = 62
_ET_DYN = 3
_PN_XNUM = 0xFFFF  # e_phnum: "the real count is in section 0's sh_info" (psABI 4.1.2)
PT_LOAD, PT_DYNAMIC, PT_TLS = 1, 2, 7
_SEGMENT_FLAGS = 0x7  # p_flags: PF_X | PF_W | PF_R; the others are OS- or processor-specific


class SegmentFlags(IntFlag):
    """``p_flags`` (gABI "Program Header")."""

    X = 1
    W = 2
    R = 4


@dataclass(frozen=True, slots=True)
class ProgramHeader:
    """One ``Elf64_Phdr`` (field names as in the gABI; ``p_type`` the raw number)."""

    p_type: int
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int
    p_align: int


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
    """A validated guest ELF file: its bytes, entry, program headers and segments. Everything else is derived on
    first use and kept in ``cache`` (none: for this process only)."""

    snapshot_exempt = True  # a parsed file never changes: a machine snapshot leaves it alone

    def __init__(
        self,
        path: str,
        data: bytes,
        entry: int,
        headers: Iterable[ProgramHeader],
        cache: DerivedCache | None = None,
        elf: ELFFile | None = None,
    ) -> None:
        self.path = path
        self.data = data
        self.entry = entry
        self.program_headers: tuple[ProgramHeader, ...] = _checked(path, headers, len(data))
        self.segments = tuple(
            Segment(h.p_offset, h.p_vaddr, h.p_filesz, h.p_memsz, SegmentFlags(h.p_flags & _SEGMENT_FLAGS))
            for h in self.program_headers
            if h.p_type == PT_LOAD
        )
        self._cache = cache
        self._analysis: Entry | None = None
        self._elf = elf

    def __repr__(self) -> str:
        return f"ElfImage({self.path!r})"

    @classmethod
    def open(cls, path: str | Path, cache: DerivedCache | None = None) -> ElfImage:
        name = str(path)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ElfError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise ElfError(f"{name}: is a directory, not an ELF file") from None
        except OSError as error:
            raise ElfError(f"{name}: cannot read: {error.strerror}") from None
        return cls.parse(name, data, cache)

    @classmethod
    def parse(cls, name: str, data: bytes, cache: DerivedCache | None = None) -> ElfImage:
        if not data.startswith(_MAGIC):
            raise ElfError(f"{name}: not an ELF file")
        plain = _plain_headers(data)
        if plain is not None:
            entry, headers = plain
            return cls(name, data, entry, headers, cache)
        with elf_errors(name):  # the unusual file: pyelftools decides (module docstring, step 2)
            elf = _pyelftools(data)
            _check_kind(name, elf)
            return cls(name, data, elf.header.e_entry, _headers_of(elf, data), cache, elf)

    @property
    def elf(self) -> ELFFile:
        """The pyelftools view, for the modules that read more of the file (module docstring)."""
        if self._elf is None:
            with elf_errors(self.path):
                self._elf = _pyelftools(self.data)
        return self._elf

    def derived(
        self, field: str, derive: Callable[[], T], encode: Callable[[T], Json], decode: Callable[[Json], T]
    ) -> T:
        """``field`` of this file's cache entry (``twzemu.cache.Entry.get``): read back, or derived and kept."""
        if self._analysis is None:
            self._analysis = (self._cache or DerivedCache(None)).entry("elf", self.data, _analysis_code())
        return self._analysis.get(field, derive, encode, decode)

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        """Every named function and object the file defines (``.symtab`` and ``.dynsym``), for reports."""
        return self.derived("symbols", self._read_symbols, _encode_symbols, _decode_symbols)

    @property
    def section_count(self) -> int:
        """How many section headers the file has (0: none, so no section can be found by name): ``e_shnum``, or
        with more than ``SHN_LORESERVE`` sections, section 0's ``sh_size`` (gABI "Sections"), read by pyelftools."""
        e_shoff, e_shnum = (_EHDR.unpack_from(self.data)[index] for index in (_E_SHOFF, _E_SHNUM))
        if e_shoff == 0 or e_shnum:
            return e_shnum if e_shoff else 0
        return self.derived("sections", self._read_section_count, lambda count: count, json_int)

    def symbol_named(self, name: str) -> Symbol | None:
        return next((s for s in self.symbols if s.st_name == name), None)

    def _read_symbols(self) -> tuple[Symbol, ...]:
        with elf_errors(self.path):
            return tuple(_symbols(self.elf))

    def _read_section_count(self) -> int:
        with elf_errors(self.path):
            return int(self.elf.num_sections())


@contextmanager
def elf_errors(name: str) -> Iterator[None]:
    """pyelftools (and a hostile file) may raise many things: each becomes one ElfError naming the file."""
    try:
        yield
    except ElfError:
        raise
    except pyelftools_errors() as error:
        raise ElfError(f"{name}: malformed ELF file ({error})") from None


@cache
def pyelftools_errors() -> tuple[type[Exception], ...]:
    """What pyelftools (reading a hostile file) may raise; each becomes one ElfError naming the file. A seek past
    2**63 is an OverflowError; the struct decoders raise struct.error. A function, so that pyelftools is imported
    only when something went wrong (an ``except`` clause evaluates its tuple only then)."""
    from elftools.common.exceptions import DWARFError, ELFError

    return (
        ELFError,
        DWARFError,
        ValueError,
        KeyError,
        IndexError,
        AssertionError,
        OSError,
        TypeError,
        OverflowError,
        struct.error,
    )


@cache
def _analysis_code() -> tuple[Path, ...]:
    """The sources whose code derives a cache entry's fields: this package, and the ABI it reads records by."""
    package = Path(__file__).parent
    return (*sorted(package.glob("*.py")), package.parent / "abi.py")


def _plain_headers(data: bytes) -> tuple[int, tuple[ProgramHeader, ...]] | None:
    """Step 1 of the module docstring: the entry and program headers of a plain x86-64 ET_DYN; None otherwise."""
    if len(data) < _EHDR.size:
        return None
    ident, e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize, e_phnum, _, _, _ = _EHDR.unpack_from(data)
    if (ident[_EI_CLASS], ident[_EI_DATA], e_machine, e_type) != (_ELFCLASS64, _ELFDATA2LSB, _EM_X86_64, _ET_DYN):
        return None
    offsets = [e_phoff + index * e_phentsize for index in range(e_phnum)]
    if e_phnum >= _PN_XNUM or any(offset + _PHDR.size > len(data) for offset in offsets):
        return None
    return e_entry, tuple(_program_header(data, offset) for offset in offsets)


def _program_header(data: bytes, offset: int) -> ProgramHeader:
    p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = _PHDR.unpack_from(data, offset)
    return ProgramHeader(p_type, p_offset, p_vaddr, p_filesz, p_memsz, p_flags, p_align)


def _pyelftools(data: bytes) -> ELFFile:
    from elftools.elf.elffile import ELFFile  # imported on first use: a cached run needs none of it

    return ELFFile(io.BytesIO(data))


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


def _headers_of(elf: ELFFile, data: bytes) -> Iterator[ProgramHeader]:
    """The program headers through pyelftools (which counts ``PN_XNUM`` headers and names a truncated one);
    the values are read from the same bytes as the ``struct`` reader does."""
    from elftools.common.utils import struct_parse

    for index in range(elf.num_segments()):
        offset = elf["e_phoff"] + index * elf["e_phentsize"]
        struct_parse(elf.structs.Elf_Phdr, elf.stream, offset)
        yield _program_header(data, offset)


def _checked(name: str, headers: Iterable[ProgramHeader], size: int) -> tuple[ProgramHeader, ...]:
    """Every header, each ``PT_LOAD`` checked to lie in the file as it is read."""
    checked = []
    for header in headers:
        if header.p_type == PT_LOAD and (header.p_offset + header.p_filesz > size or header.p_filesz > header.p_memsz):
            raise ElfError(f"{name}: segment at {header.p_vaddr:#x} lies outside the file (truncated?)")
        checked.append(header)
    return tuple(checked)


def _symbols(elf: ELFFile) -> Iterator[Symbol]:
    from elftools.elf.sections import SymbolTableSection

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


def _encode_symbols(symbols: tuple[Symbol, ...]) -> Json:
    return [[s.st_name, s.st_value, s.st_size] for s in symbols]


def _decode_symbols(rows: Json) -> tuple[Symbol, ...]:
    return tuple(Symbol(json_str(name), json_int(value), json_int(size)) for name, value, size in rows)
