"""Dynamic-linking information of one ELF file, as plain records: what the linker reads, and nothing else.

``DynamicInfo.read(image)`` turns a validated ``ElfImage`` into a ``DynamicInfo``. The data flow follows how a
loader sees the file — through program headers (section headers are consulted for one thing only, below):

1. **program headers** (read when the image was opened): ``PT_DYNAMIC`` locates the dynamic array, ``PT_TLS``
   the TLS template;
2. **dynamic array**: ``Elf64_Dyn`` entries inside ``PT_DYNAMIC``'s file bytes, up to ``DT_NULL``;
3. **addresses → file**: every ``DT_`` address is a virtual address; ``_AddressMap`` translates it through the
   ``PT_LOAD`` segments and checks the whole table lies in the file;
4. **tables**: relocations come from every table the array names (``DT_RELR``, ``DT_RELA``, ``DT_REL``,
   ``DT_JMPREL``, in the order Twizzler's ``relocate_single`` processes them), ``REL`` and ``RELR`` addends
   read from the bytes at the place; strings (``DT_STRTAB``/``DT_STRSZ``) name the ``DT_NEEDED`` libraries,
   the ``DT_SONAME`` and the symbols (``DT_SYMTAB``, whose length the dynamic array does not give: ``DT_HASH``
   or ``DT_GNU_HASH`` tell it, or — when a GNU hash has no exported symbol — the ``SHT_DYNSYM`` section
   header; it is never shorter than the highest symbol index a relocation names); init/fini arrays are read
   as raw file values.

The fixed-size tables are decoded with ``struct`` after their bounds are checked (pyelftools' construct decoder
costs ~6 µs per entry, too slow for the linker's "linear in relocations" budget); pyelftools is needed only for
the ``SHT_DYNSYM`` fallback. Every inconsistency — an address outside the segments, a table that runs off the file, a
size that is not a multiple of its entry, a symbol index whose entry lies outside the file — is an ``ElfError``
naming the file and what is wrong. Every loop is bounded by a table size that was checked against the file size,
so a hostile file is refused or read, in time proportional to its size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum, IntFlag

from ..errors import ElfError
from .image import PT_DYNAMIC, PT_TLS, ElfImage, Segment, pyelftools_errors
from .relocs import RelocType, field_width, implicit_addend

_DYN = struct.Struct("<qQ")  # Elf64_Dyn: d_tag, d_un
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym: st_name, st_info, st_other, st_shndx, st_value, st_size
_RELA = struct.Struct("<QQq")  # Elf64_Rela: r_offset, r_info, r_addend
_REL = struct.Struct("<QQ")  # Elf64_Rel: r_offset, r_info
_RELR = struct.Struct("<Q")  # Elf64_Relr
_WORD = struct.Struct("<I")
_ADDR = struct.Struct("<Q")
_HASH_HEADER = struct.Struct("<II")  # DT_HASH: nbucket, nchain
_GNU_HASH_HEADER = struct.Struct("<IIII")  # DT_GNU_HASH: nbuckets, symoffset, bloom_size, bloom_shift

_R_SYM_SHIFT = 32  # ELF64_R_SYM(info) = info >> 32
_R_TYPE_MASK = 0xFFFF_FFFF  # ELF64_R_TYPE(info) = info & 0xffffffff
_ST_BIND_SHIFT = 4  # ELF64_ST_BIND(info) = info >> 4
_ST_TYPE_MASK = 0xF  # ELF64_ST_TYPE(info) = info & 0xf
_ST_VISIBILITY_MASK = 0x3  # ELF64_ST_VISIBILITY(other) = other & 0x3
SHN_UNDEF = 0  # gABI "Special Section Indexes": an undefined symbol
SHN_LORESERVE = 0xFF00  # this and above: special meanings (ABS, COMMON, XINDEX…), not a section of the file
SHN_ABS = 0xFFF1  # an absolute value, not relocated with its image
SHN_COMMON = 0xFFF2  # a common block not yet allocated (ld allocates them; none should reach a loader)
_GNU_HASH_CHAIN_END = 1  # the low bit of a GNU hash chain word marks the last symbol of a chain
_RELR_BITMAP = 1  # odd RELR entries are bitmaps, even ones addresses
_RELR_BITS = 63  # each bitmap entry covers 63 words after the last address


class DynTag(IntEnum):
    """The ``d_tag`` values twzemu reads (gABI "Dynamic Section", plus GNU's ``DT_GNU_HASH``/``DT_FLAGS_1``)."""

    NULL = 0
    NEEDED = 1
    PLTRELSZ = 2
    HASH = 4
    STRTAB = 5
    SYMTAB = 6
    RELA = 7
    RELASZ = 8
    RELAENT = 9
    STRSZ = 10
    SYMENT = 11
    INIT = 12
    FINI = 13
    SONAME = 14
    SYMBOLIC = 16
    REL = 17
    RELSZ = 18
    RELENT = 19
    PLTREL = 20
    TEXTREL = 22
    JMPREL = 23
    BIND_NOW = 24
    INIT_ARRAY = 25
    FINI_ARRAY = 26
    INIT_ARRAYSZ = 27
    FINI_ARRAYSZ = 28
    FLAGS = 30
    PREINIT_ARRAY = 32
    PREINIT_ARRAYSZ = 33
    RELRSZ = 35
    RELR = 36
    RELRENT = 37
    GNU_HASH = 0x6FFFFEF5
    FLAGS_1 = 0x6FFFFFFB


class DynFlag(IntFlag):
    """``DT_FLAGS`` bits (gABI)."""

    ORIGIN = 0x1
    SYMBOLIC = 0x2
    TEXTREL = 0x4
    BIND_NOW = 0x8
    STATIC_TLS = 0x10


class DynFlag1(IntFlag):
    """The ``DT_FLAGS_1`` bit twzemu reads (GNU extension)."""

    NOW = 0x1


class SymbolBind(Enum):
    """``ELF64_ST_BIND`` (gABI "Symbol Table"; ``GNU_UNIQUE`` is GNU's ``STB_LOOS``)."""

    LOCAL = 0
    GLOBAL = 1
    WEAK = 2
    GNU_UNIQUE = 10


class SymbolKind(Enum):
    """``ELF64_ST_TYPE``; ``OTHER`` stands for every value not listed (``STT_COMMON``, processor-specific…)."""

    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    TLS = 6
    GNU_IFUNC = 10
    OTHER = -1


_BINDS = {bind.value: bind for bind in SymbolBind}
_KINDS = {kind.value: kind for kind in SymbolKind}


class SymbolVisibility(Enum):
    """``ELF64_ST_VISIBILITY`` (gABI)."""

    DEFAULT = 0
    INTERNAL = 1
    HIDDEN = 2
    PROTECTED = 3


_VISIBILITIES = tuple(SymbolVisibility)  # indexed by value: 0 … 3


class RelocTable(Enum):
    """The dynamic table a relocation came from."""

    RELA = "DT_RELA"
    REL = "DT_REL"
    RELR = "DT_RELR"
    JMPREL = "DT_JMPREL"


@dataclass(frozen=True, slots=True)
class DynSymbol:
    """One entry of the dynamic symbol table (``Elf64_Sym``, decoded)."""

    name: str
    st_value: int
    st_size: int
    bind: SymbolBind
    kind: SymbolKind
    visibility: SymbolVisibility
    st_shndx: int

    @property
    def defined(self) -> bool:
        return self.st_shndx != SHN_UNDEF


@dataclass(frozen=True, slots=True)
class DynReloc:
    """One dynamic relocation; ``r_addend`` is explicit (RELA) or was read from the place (REL, RELR)."""

    r_offset: int
    r_type: int
    r_sym: int
    r_addend: int
    table: RelocTable


MAX_TLS_SIZE = 16 << 20  # one module's static TLS block
MAX_TLS_ALIGN = 0x1000  # a page


@dataclass(frozen=True, slots=True)
class TlsTemplate:
    """The ``PT_TLS`` segment: a module's TLS block is ``image`` followed by ``memsz - filesz`` zero bytes."""

    vaddr: int
    filesz: int
    memsz: int
    align: int
    image: bytes


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    """Everything the dynamic linker reads from one file (addresses are ELF virtual addresses, unrelocated).

    The ``*_array`` tuples are the raw file contents of ``DT_INIT_ARRAY`` & co. (usually also the target of
    ``RELATIVE`` relocations, so read them again after relocating); ``*_array_at``/``*_array_count`` locate
    the arrays in memory.
    """

    soname: str | None = None
    needed: tuple[str, ...] = ()
    symbols: tuple[DynSymbol, ...] = ()
    relocations: tuple[DynReloc, ...] = ()
    init: int | None = None
    fini: int | None = None
    init_array: tuple[int, ...] = ()
    init_array_at: int | None = None
    init_array_count: int = 0
    fini_array: tuple[int, ...] = ()
    fini_array_at: int | None = None
    fini_array_count: int = 0
    preinit_array: tuple[int, ...] = ()
    preinit_array_at: int | None = None
    preinit_array_count: int = 0
    textrel: bool = False
    bind_now: bool = False
    symbolic: bool = False
    tls: TlsTemplate | None = None

    @classmethod
    def read(cls, image: ElfImage) -> DynamicInfo:
        """Read the dynamic section and TLS template of ``image`` (module docstring, steps 1-4)."""
        dynamic, tls = _program_headers(image)
        if dynamic is None:
            return cls(tls=tls)
        return _DynamicReader(image, dynamic, tls).read()


@dataclass(frozen=True, slots=True)
class _DynamicHeader:
    p_offset: int
    p_filesz: int


# 1. program headers ---------------------------------------------------------------------------------------


def _program_headers(image: ElfImage) -> tuple[_DynamicHeader | None, TlsTemplate | None]:
    headers = image.program_headers  # read and checked when the image was opened
    dynamic = next((h for h in headers if h.p_type == PT_DYNAMIC), None)
    tls = next((h for h in headers if h.p_type == PT_TLS), None)
    dynamic_header = None if dynamic is None else _DynamicHeader(dynamic.p_offset, dynamic.p_filesz)
    if tls is None:
        return dynamic_header, None
    return dynamic_header, _tls_template(image, tls.p_offset, tls.p_vaddr, tls.p_filesz, tls.p_memsz, tls.p_align)


def _tls_template(image: ElfImage, offset: int, vaddr: int, filesz: int, memsz: int, align: int) -> TlsTemplate:
    if offset + filesz > len(image.data) or filesz > memsz:
        raise ElfError(f"{image.path}: PT_TLS segment at {vaddr:#x} lies outside the file (truncated?)")
    if align & (align - 1):
        raise ElfError(f"{image.path}: PT_TLS alignment {align:#x} is not a power of two")
    # Every thread's area holds every module's block: a size or alignment no real library has is refused here,
    # before the monitor would lay out (in host memory) a thread area of that size.
    if memsz > MAX_TLS_SIZE or align > MAX_TLS_ALIGN:
        raise ElfError(
            f"{image.path}: PT_TLS segment of {memsz:#x} bytes aligned to {align:#x}: at most "
            f"{MAX_TLS_SIZE:#x} bytes aligned to at most {MAX_TLS_ALIGN:#x}"
        )
    return TlsTemplate(vaddr, filesz, memsz, max(align, 1), image.data[offset : offset + filesz])


# 3. addresses → file ----------------------------------------------------------------------------------------


class _AddressMap:
    """Virtual addresses of the file's ``PT_LOAD`` segments → file offsets."""

    __slots__ = ("_path", "_segments")

    def __init__(self, path: str, segments: tuple[Segment, ...]) -> None:
        self._path = path
        self._segments = segments

    def file_offset(self, vaddr: int, size: int, what: str) -> int:
        """The file offset of ``size`` bytes at ``vaddr``, which must all be file content of one segment."""
        for s in self._segments:
            if s.p_vaddr <= vaddr and vaddr + size <= s.p_vaddr + s.p_filesz:
                return s.p_offset + vaddr - s.p_vaddr
        raise ElfError(f"{self._path}: {what} at {vaddr:#x} ({size} bytes) lies outside the file's PT_LOAD segments")

    def memory(self, vaddr: int, size: int) -> Segment | None:
        """The segment whose memory image holds ``size`` bytes at ``vaddr`` (file content or zero-filled)."""
        for s in self._segments:
            if s.p_vaddr <= vaddr and vaddr + size <= s.p_vaddr + s.p_memsz:
                return s
        return None


# 2 and 4. the dynamic array and the tables it names ---------------------------------------------------------


class _DynamicReader:
    """One pass over a file's dynamic array; ``read()`` builds the ``DynamicInfo``."""

    def __init__(self, image: ElfImage, dynamic: _DynamicHeader, tls: TlsTemplate | None) -> None:
        self.path = image.path
        self.data = image.data
        self.image = image
        self.addresses = _AddressMap(image.path, image.segments)
        self.tls = tls
        self.tags = self._tags(dynamic)
        self.strings = self._string_table()

    def fail(self, what: str) -> ElfError:
        return ElfError(f"{self.path}: {what}")

    # the dynamic array

    def _tags(self, dynamic: _DynamicHeader) -> list[tuple[int, int]]:
        end = dynamic.p_offset + dynamic.p_filesz
        if end > len(self.data):
            raise self.fail("PT_DYNAMIC segment lies outside the file (truncated?)")
        tags: list[tuple[int, int]] = []
        for d_tag, d_val in _DYN.iter_unpack(self.data[dynamic.p_offset : end - dynamic.p_filesz % _DYN.size]):
            if d_tag == DynTag.NULL:
                return tags
            tags.append((d_tag, d_val))
        raise self.fail("the dynamic section has no DT_NULL terminator")

    def value(self, tag: DynTag) -> int | None:
        """The first entry with ``tag`` (later duplicates are ignored, as Twizzler's ``find_dyn_value`` does)."""
        return next((v for t, v in self.tags if t == tag), None)

    def has(self, tag: DynTag) -> bool:
        return any(t == tag for t, _ in self.tags)

    def table(self, address_tag: DynTag, size_tag: DynTag, entry_size: int) -> tuple[int, int] | None:
        """``(file offset, size)`` of the table ``address_tag``/``size_tag`` name, checked to lie in the file."""
        address, size = self.value(address_tag), self.value(size_tag)
        if address is None:
            if size:
                raise self.fail(f"DT_{size_tag.name} without DT_{address_tag.name}")
            return None
        if size is None:
            raise self.fail(f"DT_{address_tag.name} without DT_{size_tag.name}")
        if size % entry_size:
            raise self.fail(f"DT_{size_tag.name} {size} is not a multiple of the entry size {entry_size}")
        return self.addresses.file_offset(address, size, f"DT_{address_tag.name} table"), size

    def check_entry_size(self, tag: DynTag, expected: int) -> None:
        size = self.value(tag)
        if size is not None and size != expected:
            raise self.fail(f"DT_{tag.name} is {size}, expected {expected}")

    # strings

    def _string_table(self) -> bytes:
        found = self.table(DynTag.STRTAB, DynTag.STRSZ, 1)
        if found is None:
            return b""
        offset, size = found
        return self.data[offset : offset + size]

    def string(self, offset: int, what: str) -> str:
        end = self.strings.find(b"\0", offset) if offset < len(self.strings) else -1
        if end < 0:
            raise self.fail(f"{what} name at string offset {offset:#x} lies outside DT_STRTAB")
        return self.strings[offset:end].decode("utf-8", "surrogateescape")

    # the record

    def read(self) -> DynamicInfo:
        relocations = tuple(_Relocations(self).read())
        # Whatever the symbol count says, the table holds at least every symbol a relocation names.
        symbols = self.symbols(minimum=max((r.r_sym for r in relocations), default=-1) + 1)
        flags = DynFlag(self.value(DynTag.FLAGS) or 0)
        flags_1 = DynFlag1((self.value(DynTag.FLAGS_1) or 0) & DynFlag1.NOW)
        soname = self.value(DynTag.SONAME)
        init_array = self.array(DynTag.INIT_ARRAY, DynTag.INIT_ARRAYSZ)
        fini_array = self.array(DynTag.FINI_ARRAY, DynTag.FINI_ARRAYSZ)
        preinit_array = self.array(DynTag.PREINIT_ARRAY, DynTag.PREINIT_ARRAYSZ)
        return DynamicInfo(
            soname=None if soname is None else self.string(soname, "DT_SONAME"),
            needed=tuple(self.string(v, "DT_NEEDED") for t, v in self.tags if t == DynTag.NEEDED),
            symbols=symbols,
            relocations=relocations,
            init=self.function(DynTag.INIT),
            fini=self.function(DynTag.FINI),
            init_array=init_array.values,
            init_array_at=init_array.at,
            init_array_count=len(init_array.values),
            fini_array=fini_array.values,
            fini_array_at=fini_array.at,
            fini_array_count=len(fini_array.values),
            preinit_array=preinit_array.values,
            preinit_array_at=preinit_array.at,
            preinit_array_count=len(preinit_array.values),
            textrel=self.has(DynTag.TEXTREL) or DynFlag.TEXTREL in flags,
            bind_now=self.has(DynTag.BIND_NOW) or DynFlag.BIND_NOW in flags or DynFlag1.NOW in flags_1,
            symbolic=self.has(DynTag.SYMBOLIC) or DynFlag.SYMBOLIC in flags,
            tls=self.tls,
        )

    def function(self, tag: DynTag) -> int | None:
        address = self.value(tag)
        if address is not None and self.addresses.memory(address, 1) is None:
            raise self.fail(f"DT_{tag.name} {address:#x} lies outside the file's PT_LOAD segments")
        return address

    def array(self, address_tag: DynTag, size_tag: DynTag) -> _Array:
        found = self.table(address_tag, size_tag, _ADDR.size)
        if found is None:
            return _Array(None, ())
        offset, size = found
        values = tuple(v for (v,) in _ADDR.iter_unpack(self.data[offset : offset + size]))
        return _Array(self.value(address_tag), values)

    # symbols

    def symbols(self, minimum: int = 0) -> tuple[DynSymbol, ...]:
        address = self.value(DynTag.SYMTAB)
        if address is None:
            if minimum > 1:
                raise self.fail(f"relocations name dynamic symbols (up to {minimum - 1}) but there is no DT_SYMTAB")
            return ()
        self.check_entry_size(DynTag.SYMENT, _SYM.size)
        counted = self.symbol_count(address)
        count = max(counted, minimum)
        what = "DT_SYMTAB table" if count == counted else f"DT_SYMTAB table (a relocation names symbol {count - 1})"
        offset = self.addresses.file_offset(address, count * _SYM.size, what)
        return tuple(
            self.symbol(index, *fields)
            for index, fields in enumerate(_SYM.iter_unpack(self.data[offset : offset + count * _SYM.size]))
        )

    def symbol(
        self, index: int, st_name: int, st_info: int, st_other: int, st_shndx: int, st_value: int, st_size: int
    ) -> DynSymbol:
        bind = _BINDS.get(st_info >> _ST_BIND_SHIFT)
        if bind is None:
            raise self.fail(f"dynamic symbol {index} has unknown binding {st_info >> _ST_BIND_SHIFT}")
        kind = _KINDS.get(st_info & _ST_TYPE_MASK, SymbolKind.OTHER)
        visibility = _VISIBILITIES[st_other & _ST_VISIBILITY_MASK]
        name = self.string(st_name, f"dynamic symbol {index}")
        return DynSymbol(name, st_value, st_size, bind, kind, visibility, st_shndx)

    def symbol_count(self, symtab: int) -> int:
        """How many entries ``DT_SYMTAB`` has (the dynamic array does not say): ``nchain`` of ``DT_HASH``, else
        the end of ``DT_GNU_HASH``'s last chain. A GNU hash only covers the exported symbols, which ld places
        last: when a file exports nothing, it says nothing about the undefined symbols, and the ``SHT_DYNSYM``
        section header (if any) gives the length."""
        hash_address = self.value(DynTag.HASH)
        if hash_address is not None:
            offset = self.addresses.file_offset(hash_address, _HASH_HEADER.size, "DT_HASH table")
            return _HASH_HEADER.unpack_from(self.data, offset)[1]
        gnu_hash = self.value(DynTag.GNU_HASH)
        if gnu_hash is None:
            raise self.fail("DT_SYMTAB without DT_HASH or DT_GNU_HASH: the number of dynamic symbols is unknown")
        counted, complete = self.gnu_hash_symbol_count(gnu_hash)
        return counted if complete else max(counted, self.dynsym_section_count(symtab))

    def dynsym_section_count(self, symtab: int) -> int:
        """Entries of the ``SHT_DYNSYM`` section at ``symtab``; 0 without one (section headers are optional for
        loading: broken ones are not an error here, the relocations still bound the table from below)."""
        try:
            for section in self.image.elf.iter_sections(type="SHT_DYNSYM"):
                if section["sh_addr"] == symtab and section["sh_entsize"] == _SYM.size:
                    return section["sh_size"] // _SYM.size
        except (ElfError, *pyelftools_errors()):
            return 0
        return 0

    def gnu_hash_symbol_count(self, address: int) -> tuple[int, bool]:
        """One past the highest symbol index reachable through ``DT_GNU_HASH`` (buckets hold the first index of
        each chain; a chain ends at the word whose low bit is set), and whether that is the whole table: with
        every bucket empty, only the ``symoffset`` symbols before the hashed ones are known to exist."""
        offset = self.addresses.file_offset(address, _GNU_HASH_HEADER.size, "DT_GNU_HASH table")
        nbuckets, symoffset, bloom_size, _ = _GNU_HASH_HEADER.unpack_from(self.data, offset)
        buckets_at = address + _GNU_HASH_HEADER.size + bloom_size * _ADDR.size
        buckets_offset = self.addresses.file_offset(buckets_at, nbuckets * _WORD.size, "DT_GNU_HASH buckets")
        buckets = self.data[buckets_offset : buckets_offset + nbuckets * _WORD.size]
        last = max((b for (b,) in _WORD.iter_unpack(buckets)), default=0)
        if last < symoffset:
            return symoffset, False
        chains_at = buckets_at + nbuckets * _WORD.size
        chain_offset = self.addresses.file_offset(
            chains_at + (last - symoffset) * _WORD.size, _WORD.size, "DT_GNU_HASH chain"
        )
        chain_end = chain_offset + (len(self.data) - chain_offset) // _WORD.size * _WORD.size
        for index, (word,) in enumerate(_WORD.iter_unpack(self.data[chain_offset:chain_end])):
            if word & _GNU_HASH_CHAIN_END:
                return last + index + 1, True
        raise self.fail("DT_GNU_HASH chain runs off the end of the file")


@dataclass(frozen=True, slots=True)
class _Array:
    at: int | None
    values: tuple[int, ...]


class _Relocations:
    """Every relocation the dynamic array names, in Twizzler's order: RELR, RELA, REL, JMPREL."""

    def __init__(self, reader: _DynamicReader) -> None:
        self.reader = reader

    def read(self) -> Iterator[DynReloc]:
        reader = self.reader
        reader.check_entry_size(DynTag.RELAENT, _RELA.size)
        reader.check_entry_size(DynTag.RELENT, _REL.size)
        reader.check_entry_size(DynTag.RELRENT, _RELR.size)
        jmprel = self.jmprel()
        yield from self.relr()
        yield from self.explicit(DynTag.RELA, DynTag.RELASZ, _RELA, RelocTable.RELA, jmprel)
        yield from self.explicit(DynTag.REL, DynTag.RELSZ, _REL, RelocTable.REL, jmprel)
        if jmprel is not None:
            offset, size, entry = jmprel
            yield from self.entries(offset, size, entry, RelocTable.JMPREL)

    def jmprel(self) -> tuple[int, int, struct.Struct] | None:
        kind = self.reader.value(DynTag.PLTREL)
        if not self.reader.has(DynTag.JMPREL):
            return None
        if kind not in (DynTag.RELA, DynTag.REL):
            raise self.reader.fail(f"DT_PLTREL is {kind}, neither DT_RELA ({DynTag.RELA}) nor DT_REL ({DynTag.REL})")
        entry = _RELA if kind == DynTag.RELA else _REL
        found = self.reader.table(DynTag.JMPREL, DynTag.PLTRELSZ, entry.size)
        assert found is not None  # DT_JMPREL is present
        return (*found, entry)

    def explicit(
        self,
        address_tag: DynTag,
        size_tag: DynTag,
        entry: struct.Struct,
        table: RelocTable,
        jmprel: tuple[int, int, struct.Struct] | None,
    ) -> Iterator[DynReloc]:
        found = self.reader.table(address_tag, size_tag, entry.size)
        if found is None:
            return
        offset, size = found
        if jmprel is not None and jmprel[2] is entry and offset + size == jmprel[0] + jmprel[1] and size >= jmprel[1]:
            # Some linkers count the PLT relocations in DT_RELASZ too; glibc (elf/dynamic-link.h,
            # _ELF_DYNAMIC_DO_RELOC) then drops them from the first range: "ranges[0].size -= size".
            size -= jmprel[1]
        yield from self.entries(offset, size, entry, table)

    def entries(self, offset: int, size: int, entry: struct.Struct, table: RelocTable) -> Iterator[DynReloc]:
        for fields in entry.iter_unpack(self.reader.data[offset : offset + size]):
            r_offset, r_info = fields[0], fields[1]
            r_sym, r_type = r_info >> _R_SYM_SHIFT, r_info & _R_TYPE_MASK
            width = self.place(r_offset, r_type, table)
            addend = fields[2] if entry is _RELA else self.implicit(r_offset, r_type, width)
            yield DynReloc(r_offset, r_type, r_sym, addend, table)

    def place(self, r_offset: int, r_type: int, table: RelocTable) -> int:
        """The field width of ``r_type``, after checking its place lies in a segment's memory (unknown types
        are left to the linker, which refuses them by number)."""
        width = field_width(r_type)
        if width and self.reader.addresses.memory(r_offset, width) is None:
            raise self.reader.fail(f"{table.value} relocation at {r_offset:#x} lies outside the PT_LOAD segments")
        return width or 0

    def implicit(self, r_offset: int, r_type: int, width: int) -> int:
        """A REL/RELR addend: the field's bytes at the place (zero where the segment is not backed by the file)."""
        if width not in (1, 2, 4, 8):
            return 0
        segment = self.reader.addresses.memory(r_offset, width)
        assert segment is not None  # checked by place()
        start = r_offset - segment.p_vaddr
        content = self.reader.data[segment.p_offset + start : segment.p_offset + min(start + width, segment.p_filesz)]
        return implicit_addend(r_type, content.ljust(width, b"\0"))

    def relr(self) -> Iterator[DynReloc]:
        """``DT_RELR`` (gABI "Relative relocation table"): an even entry is an address to relocate, and the
        next word is where a following bitmap starts; bit *i* (1-62… from bit 1) of an odd entry relocates the
        word *i-1* after that, then the base advances 63 words."""
        found = self.reader.table(DynTag.RELR, DynTag.RELRSZ, _RELR.size)
        if found is None:
            return
        offset, size = found
        base: int | None = None
        for (entry,) in _RELR.iter_unpack(self.reader.data[offset : offset + size]):
            if not entry & _RELR_BITMAP:
                yield self.relative(entry)
                base = entry + _ADDR.size
                continue
            if base is None:
                raise self.reader.fail("DT_RELR table starts with a bitmap, not an address")
            for bit in range(_RELR_BITS):
                if entry >> (bit + 1) & 1:
                    yield self.relative(base + bit * _ADDR.size)
            base += _RELR_BITS * _ADDR.size

    def relative(self, r_offset: int) -> DynReloc:
        width = self.place(r_offset, RelocType.RELATIVE, RelocTable.RELR)
        return DynReloc(
            r_offset, RelocType.RELATIVE, 0, self.implicit(r_offset, RelocType.RELATIVE, width), RelocTable.RELR
        )
