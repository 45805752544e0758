"""DynamicInfo on real gcc-built files, diffed against readelf; hand-made corruptions; mutated files (Hypothesis)."""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twzemu.elf.dynamic import DynamicInfo, DynTag, RelocTable, SymbolBind, SymbolKind, SymbolVisibility
from twzemu.elf.image import ElfImage
from twzemu.elf.relocs import RelocType
from twzemu.errors import ElfError
from twzemu.linker.lookup import Library

DEP = """
int ext_var = 3;
int ext_fn(int x) { return x + ext_var; }
__attribute__((visibility("hidden"))) int hidden_fn(void) { return 1; }
__attribute__((weak)) int weak_def = 5;
"""
MAIN = """
extern int ext_var; extern int ext_fn(int);
extern __attribute__((weak)) int maybe(void);
int shared_var = 42;
int *ptr = &shared_var;
__attribute__((weak)) int weak_fn(void) { return 1; }
static int counter;
__thread int tls_var = 7;
__thread int tls_bss;
__attribute__((constructor)) static void ctor(void) { counter++; }
__attribute__((constructor)) static void ctor2(void) { counter += 2; }
__attribute__((destructor)) static void dtor(void) { counter--; }
int use(void) { return ext_var + ext_fn(tls_var) + (maybe ? maybe() : 0) + tls_bss + *ptr; }
void *table[] = { (void *)use, (void *)&counter, (void *)&ext_var, (void *)&table[1], (char *)&shared_var + 12 };
"""
TLS = """
__thread int t1 = 7;
__thread char buf[100] = {1, 2, 3};
static __thread long t2;
__attribute__((tls_model("initial-exec"))) __thread int ie = 9;
int get(void) { return t1 + (int)t2 + buf[3] + ie; }
"""
PROGRAM = """
extern int use(void);
static void early(void) {}
__attribute__((section(".preinit_array"), used)) static void (*preinit[])(void) = { early, early };
int main(void) { return use(); }
"""


@dataclass(frozen=True)
class Built:
    path: Path
    flags: tuple[str, ...]


def gcc(out: Path, source: str, *flags: str) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-fPIC", "-O1", "-o", str(out), str(src), *flags], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dynamic")
    assert "pack-relative-relocs" in subprocess.run(["ld", "--help"], capture_output=True, text=True).stdout
    lib = ("-shared", f"-L{d}", "-ldep")
    files = {"dep": gcc(d / "libdep.so", DEP, "-shared", "-Wl,-soname,libdep.so")}
    files["main"] = gcc(d / "libmain.so", MAIN, *lib, "-Wl,-soname,libmain.so.1")
    files["relr"] = gcc(d / "librelr.so", MAIN, *lib, "-Wl,-z,pack-relative-relocs")
    files["now"] = gcc(d / "libnow.so", MAIN, *lib, "-Wl,-z,now", "-Wl,--hash-style=sysv")
    files["both"] = gcc(d / "libboth.so", MAIN, *lib, "-Wl,--hash-style=both", "-Wl,-z,lazy")
    files["tls"] = gcc(d / "libtls.so", TLS, "-shared")
    files["prog"] = gcc(d / "prog", PROGRAM, "-pie", f"-L{d}", "-lmain", "-ldep", "-Wl,-z,now")
    return files


# readelf, parsed --------------------------------------------------------------------------------------------


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True).stdout


def readelf_dynamic(path: Path) -> list[tuple[str, str]]:
    return re.findall(r"^\s*0x[0-9a-f]+ \((\w+)\)\s+(.*)$", readelf("-d", str(path)), re.M)


SYMBOL_ROW = re.compile(r"^\s*(\d+): ([0-9a-f]+)\s+(\S+) (\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s?(.*)$", re.M)
TYPES = {kind.name: kind for kind in SymbolKind} | {"IFUNC": SymbolKind.GNU_IFUNC}
BINDS = {bind.name: bind for bind in SymbolBind} | {"UNIQUE": SymbolBind.GNU_UNIQUE}
TLS_ROW = re.compile(r"^\s*TLS\s+(0x\w+) (0x\w+) 0x\w+ (0x\w+) (0x\w+) \S+\s+(0x\w+)$", re.M)


def readelf_symbols(path: Path) -> list[tuple]:
    rows = []
    for _, value, size, kind, bind, vis, ndx, name in SYMBOL_ROW.findall(readelf("--dyn-syms", str(path))):
        name = re.sub(r"@.*$", "", name.strip())  # drop "@GLIBC_2.2.5 (2)" version suffixes
        rows.append((name, int(value, 16), int(size, 0), TYPES[kind], BINDS[bind], SymbolVisibility[vis], ndx != "UND"))
    return rows


def readelf_relocations(path: Path) -> dict[RelocTable, list[tuple[int, int, int, int | None]]]:
    """Per table: (r_offset, r_type, r_sym, r_addend); RELR entries have no addend in readelf's output."""
    tables: dict[RelocTable, list] = {}
    table = None
    for line in readelf("-r", str(path)).splitlines():
        header = re.match(r"Relocation section '(\.\w+\.\w+)'", line)
        if header:
            table = {".rela.dyn": RelocTable.RELA, ".rela.plt": RelocTable.JMPREL, ".relr.dyn": RelocTable.RELR}[
                header.group(1)
            ]
            tables[table] = []
            continue
        if table is RelocTable.RELR:
            address = re.match(r"^\s*([0-9a-f]{16})\s*$", line) or re.match(r"^\s*\d+:\s+[0-9a-f]+\s+([0-9a-f]+)", line)
            if address:
                tables[table].append((int(address.group(1), 16), RelocType.RELATIVE, 0, None))
            continue
        row = re.match(r"^([0-9a-f]{16})\s+([0-9a-f]{16}) R_X86_64_\w+\s+(.*)$", line)
        if row and table is not None:
            info = int(row.group(2), 16)
            signed = re.search(r"([+-]) ([0-9a-f]+)$", row.group(3))
            addend = int(row.group(3).split()[-1], 16) if signed is None else int(signed.group(1) + signed.group(2), 16)
            tables[table].append((int(row.group(1), 16), info & 0xFFFF_FFFF, info >> 32, addend))
    return tables


def readelf_section_words(path: Path, section: str) -> tuple[int, ...]:
    raw = bytearray()
    for words in re.findall(r"^\s+0x[0-9a-f]+ ((?:[0-9a-f]{8} ?){1,4})", readelf("-x", section, str(path)), re.M):
        raw += bytes.fromhex(words.replace(" ", ""))
    return struct.unpack(f"<{len(raw) // 8}Q", raw)


def info_of(path: Path) -> DynamicInfo:
    return DynamicInfo.read(ElfImage.open(path))


# Differential tests against readelf ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dep", "main", "relr", "now", "both", "tls", "prog"])
def test_dynamic_section_matches_readelf(built, name):
    path = built[name]
    info = info_of(path)
    tags = readelf_dynamic(path)
    assert info.needed == tuple(re.search(r"\[(.*)\]", v).group(1) for t, v in tags if t == "NEEDED")
    soname = [re.search(r"\[(.*)\]", v).group(1) for t, v in tags if t == "SONAME"]
    assert info.soname == (soname[0] if soname else None)
    values = {t: v for t, v in tags}
    assert info.init == (int(values["INIT"], 16) if "INIT" in values else None)
    assert info.fini == (int(values["FINI"], 16) if "FINI" in values else None)
    for kind in ("INIT", "FINI", "PREINIT"):
        at, count = getattr(info, f"{kind.lower()}_array_at"), getattr(info, f"{kind.lower()}_array_count")
        if f"{kind}_ARRAY" in values:
            assert at == int(values[f"{kind}_ARRAY"], 16)
            assert count * 8 == int(values[f"{kind}_ARRAYSZ"].split()[0])
            section = f".{kind.lower()}_array"
            assert getattr(info, f"{kind.lower()}_array") == readelf_section_words(path, section)
        else:
            assert (at, count) == (None, 0)
    bind_now = "BIND_NOW" in values or "BIND_NOW" in values.get("FLAGS", "") or "NOW" in values.get("FLAGS_1", "")
    assert info.bind_now == bind_now
    assert not info.textrel and not info.symbolic


@pytest.mark.parametrize("name", ["dep", "main", "relr", "now", "both", "tls", "prog"])
def test_symbols_match_readelf(built, name):
    info = info_of(built[name])
    ours = [(s.name, s.st_value, s.st_size, s.kind, s.bind, s.visibility, s.defined) for s in info.symbols]
    assert ours == readelf_symbols(built[name])


@pytest.mark.parametrize("name", ["dep", "main", "relr", "now", "both", "tls", "prog"])
def test_relocations_match_readelf(built, name):
    path = built[name]
    info = info_of(path)
    theirs = readelf_relocations(path)
    for table in RelocTable:
        ours = [(r.r_offset, r.r_type, r.r_sym, r.r_addend) for r in info.relocations if r.table is table]
        expected = theirs.get(table, [])
        if table is RelocTable.RELR:
            assert [o[:3] for o in ours] == [e[:3] for e in expected]
            check_relr_addends(path, info)
        else:
            assert ours == expected, table


def check_relr_addends(path: Path, info: DynamicInfo) -> None:
    """RELR addends are the words at the places; read them through pyelftools' own address translation."""
    data = path.read_bytes()
    with path.open("rb") as stream:
        elf = ELFFile(stream)
        for reloc in (r for r in info.relocations if r.table is RelocTable.RELR):
            offset = next(elf.address_offsets(reloc.r_offset))
            assert reloc.r_addend == struct.unpack_from("<q", data, offset)[0]


def test_relr_is_the_same_relocations_packed(built):
    plain, packed = info_of(built["main"]), info_of(built["relr"])
    assert any(r.table is RelocTable.RELR for r in packed.relocations)
    relative = [r for r in plain.relocations if r.r_type == RelocType.RELATIVE]
    packed_relative = [r for r in packed.relocations if r.r_type == RelocType.RELATIVE]
    assert len(relative) == len(packed_relative) >= 6
    # frame_dummy and the two constructors; every slot is RELATIVE-relocated to the raw value the file holds.
    for info in (plain, packed):
        assert info.init_array_count == 3 and info.fini_array_count == 2
        addends = {r.r_offset: r.r_addend for r in info.relocations if r.r_type == RelocType.RELATIVE}
        slots = [info.init_array_at + 8 * i for i in range(info.init_array_count)]
        assert [addends[slot] for slot in slots] == list(info.init_array)


def test_tls_template_matches_the_pt_tls_segment(built):
    for name in ("main", "tls"):
        path = built[name]
        row = TLS_ROW.search(readelf("-l", str(path)))
        offset, vaddr, filesz, memsz, align = (int(x, 16) for x in row.groups())
        tls = info_of(path).tls
        assert (tls.vaddr, tls.filesz, tls.memsz, tls.align) == (vaddr, filesz, memsz, align)
        assert tls.image == path.read_bytes()[offset : offset + filesz]
    assert info_of(built["dep"]).tls is None
    tls_relocs = {RelocType(r.r_type) for r in info_of(built["tls"]).relocations}
    assert {RelocType.DTPMOD64, RelocType.TPOFF64} <= tls_relocs


def test_exports_for_lookup(built):
    library = Library.from_dynamic("libdep.so", info_of(built["dep"]))
    assert {"ext_var", "ext_fn", "weak_def"} <= set(library.exports)
    assert "hidden_fn" not in library.exports
    assert library.exports["weak_def"].weak and not library.exports["ext_fn"].weak
    assert library.exports["ext_fn"].kind is SymbolKind.FUNC
    main = Library.from_dynamic("libmain.so.1", info_of(built["main"]))
    assert main.needed[0] == "libdep.so" and "maybe" not in main.exports and main.exports["tls_var"].value == 0


def test_a_file_exporting_nothing_counts_its_symbols_without_the_gnu_hash(built):
    """ld's DT_GNU_HASH of a file that exports nothing has empty buckets: the length of DT_SYMTAB comes from the
    SHT_DYNSYM section header, or, with section headers stripped, from the highest symbol a relocation names."""
    data = built["prog"].read_bytes()
    assert not Library.from_dynamic("prog", read_bytes(data)).exports
    full = read_bytes(data).symbols
    assert len(full) == len(readelf_symbols(built["prog"])) > 2
    stripped = bytearray(data)
    struct.pack_into("<Q", stripped, 0x28, 0)  # e_shoff
    struct.pack_into("<HH", stripped, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    info = read_bytes(bytes(stripped))
    assert len(info.symbols) == max(r.r_sym for r in info.relocations) + 1
    assert info.symbols == full[: len(info.symbols)]


# Hand-made corruptions: one tiny reproducer per rule ----------------------------------------------------


def dynamic_entries(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """File offset of the dynamic array and its entries, via pyelftools (independent of the code under test)."""
    import io

    elf = ELFFile(io.BytesIO(data))
    segment = next(s for s in elf.iter_segments() if s.header.p_type == "PT_DYNAMIC")
    offset = segment.header.p_offset
    entries = [struct.unpack_from("<qQ", data, offset + 16 * i) for i in range(segment.header.p_filesz // 16)]
    return offset, entries


def patched(data: bytes, tag: int, value: int, new_tag: int | None = None) -> bytes:
    offset, entries = dynamic_entries(data)
    index = next(i for i, (t, _) in enumerate(entries) if t == tag)
    out = bytearray(data)
    struct.pack_into("<qQ", out, offset + 16 * index, tag if new_tag is None else new_tag, value)
    return bytes(out)


def value_of(data: bytes, tag: int) -> int:
    return next(v for t, v in dynamic_entries(data)[1] if t == tag)


def read_bytes(data: bytes) -> DynamicInfo:
    return DynamicInfo.read(ElfImage.parse("bad.so", data))


RELACOUNT = 0x6FFFFFF9  # a tag twzemu ignores, free to overwrite


@pytest.mark.parametrize(
    ("tag", "value", "new_tag", "message"),
    [
        (DynTag.STRSZ, 1 << 40, None, r"DT_STRTAB table at 0x\w+ \(\d+ bytes\) lies outside the file's PT_LOAD"),
        (DynTag.RELASZ, 25, None, r"DT_RELASZ 25 is not a multiple of the entry size 24"),
        (DynTag.RELAENT, 16, None, r"DT_RELAENT is 16, expected 24"),
        (DynTag.PLTREL, 99, None, r"DT_PLTREL is 99, neither DT_RELA"),
        (DynTag.SYMTAB, 1 << 50, None, r"DT_SYMTAB table at 0x4000000000000"),
        (DynTag.INIT_ARRAYSZ, 12, None, r"DT_INIT_ARRAYSZ 12 is not a multiple"),
        (DynTag.INIT, 1 << 45, None, r"DT_INIT 0x200000000000 lies outside"),
        (DynTag.SONAME, 1 << 20, None, r"DT_SONAME name at string offset 0x100000 lies outside DT_STRTAB"),
        (RELACOUNT, 0x10, DynTag.RELR, r"DT_RELR without DT_RELRSZ"),
        (RELACOUNT, 0x10, DynTag.NULL, None),  # an early DT_NULL just ends the array
    ],
)
def test_corrupt_dynamic_entries_are_named(built, tag, value, new_tag, message):
    data = patched(built["main"].read_bytes(), tag, value, new_tag)
    if message is None:
        read_bytes(data)
        return
    with pytest.raises(ElfError, match=rf"^bad\.so: {message}"):
        read_bytes(data)


def test_flags_tags_are_read(built):
    data = built["main"].read_bytes()
    info = read_bytes(patched(data, RELACOUNT, 0, DynTag.TEXTREL))
    assert info.textrel and not info.symbolic
    info = read_bytes(patched(data, RELACOUNT, 0x2 | 0x4, DynTag.FLAGS))  # DF_SYMBOLIC | DF_TEXTREL
    assert info.textrel and info.symbolic


def test_symbol_index_out_of_range(built):
    data = bytearray(built["main"].read_bytes())
    offset = value_of(data, DynTag.RELA)  # the first page maps file offset = address in these files
    r_offset, r_info, r_addend = struct.unpack_from("<QQq", data, offset)
    struct.pack_into("<QQq", data, offset, r_offset, (999 << 32) | (r_info & 0xFFFF_FFFF), r_addend)
    with pytest.raises(ElfError, match=r"DT_SYMTAB table \(a relocation names symbol 999\) at 0x\w+ \(24000 bytes\)"):
        read_bytes(bytes(data))


def test_relr_starting_with_a_bitmap(built):
    data = bytearray(built["relr"].read_bytes())
    struct.pack_into("<Q", data, value_of(data, DynTag.RELR), 0b111)
    with pytest.raises(ElfError, match="DT_RELR table starts with a bitmap"):
        read_bytes(bytes(data))


def test_dynamic_array_without_terminator(built):
    data = bytearray(built["main"].read_bytes())
    offset, entries = dynamic_entries(bytes(data))
    for i, (tag, _) in enumerate(entries):
        if tag == DynTag.NULL:
            struct.pack_into("<qQ", data, offset + 16 * i, RELACOUNT, 0)
    with pytest.raises(ElfError, match="no DT_NULL terminator"):
        read_bytes(bytes(data))


def test_program_header_offset_past_2_63_is_an_elf_error(built):
    data = bytearray(built["main"].read_bytes())
    struct.pack_into("<Q", data, 0x20, 1 << 63 | 0x40)  # e_phoff
    with pytest.raises(ElfError, match=r"^bad\.so: "):
        read_bytes(bytes(data))


# Mutated files: ElfError or a result, never another exception, never a hang ----------------------------------


@pytest.fixture(scope="module")
def victim(built) -> tuple[bytes, list[tuple[int, int]]]:
    """A real library and the file ranges worth mutating (headers, dynamic array, dynamic tables)."""
    data = built["relr"].read_bytes()
    ranges = [(0x40, 0x40 + 56 * 12)]  # the program headers (the ELF header is ElfImage.parse's business)
    for line in readelf("-S", str(built["relr"])).splitlines():
        row = re.match(r"^\s*\[\s*\d+\] (\.\S+)\s+\S+\s+[0-9a-f]+ ([0-9a-f]+) ([0-9a-f]+)", line)
        if row and row.group(1) in (
            ".dynamic",
            ".dynsym",
            ".dynstr",
            ".gnu.hash",
            ".rela.dyn",
            ".rela.plt",
            ".relr.dyn",
            ".init_array",
            ".tbss",
            ".tdata",
        ):
            start, size = int(row.group(2), 16), int(row.group(3), 16)
            ranges.append((start, start + max(size, 1)))
    return data, ranges


@settings(deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_files_fail_cleanly(victim, data):
    original, ranges = victim
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        start, end = data.draw(st.sampled_from(ranges))
        at = data.draw(st.integers(start, min(end, len(mutated)) - 1))
        width = data.draw(st.sampled_from([1, 4, 8]))
        value = data.draw(st.one_of(st.integers(0, 2 ** (8 * width) - 1), st.sampled_from([0, 2 ** (8 * width) - 1])))
        mutated[at : at + width] = value.to_bytes(width, "little")[: len(mutated) - at]
    if data.draw(st.booleans()):
        del mutated[data.draw(st.integers(0, len(mutated))) :]
    try:
        info = DynamicInfo.read(ElfImage.parse("mutated.so", bytes(mutated)))
    except ElfError as error:
        assert str(error).startswith("mutated.so: ")
        return
    assert all(0 <= r.r_sym < max(len(info.symbols), 1) for r in info.relocations)
