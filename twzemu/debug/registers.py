"""The registers gdb sees: a target description (``qXfer:features:read:target.xml``) and their values.

The layout is gdb's amd64 one (the features ``org.gnu.gdb.i386.core``, ``.sse``, ``.linux`` and ``.segments``,
in gdb's register order): general registers, rip, eflags, segment selectors, the x87 stack and control registers,
xmm0-15 and mxcsr, orig_rax (gdb's Linux ABI wants it), fs_base and gs_base. ``REGISTERS`` is that order; the
``g`` packet carries them all, each little-endian.

Unicorn gives the x87 registers by physical number (``FP0``-``FP7`` as mantissa and exponent), gdb wants them
relative to the stack top (``st0`` is the top), and its tag word marks an empty register with 1 where gdb's full
tag word has 3: both are converted here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

GENERAL = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", *(f"r{n}" for n in range(8, 16)))


@dataclass(frozen=True, slots=True)
class Register:
    """One register of the description: gdb's name, width in bytes, its XML type and feature."""

    name: str
    size: int
    type: str
    feature: str
    group: str = ""


_CORE, _SSE, _LINUX, _SEGMENTS = "core", "sse", "linux", "segments"

REGISTERS: tuple[Register, ...] = (
    *(Register(name, 8, "data_ptr" if name in ("rbp", "rsp") else "int64", _CORE) for name in GENERAL),
    Register("rip", 8, "code_ptr", _CORE),
    Register("eflags", 4, "i386_eflags", _CORE),
    *(Register(name, 4, "int32", _CORE) for name in ("cs", "ss", "ds", "es", "fs", "gs")),
    *(Register(f"st{n}", 10, "i387_ext", _CORE) for n in range(8)),
    *(Register(name, 4, "int", _CORE, "float") for name in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg")),
    *(Register(name, 4, "int", _CORE, "float") for name in ("fooff", "fop")),
    *(Register(f"xmm{n}", 16, "vec128", _SSE) for n in range(16)),
    Register("mxcsr", 4, "i386_mxcsr", _SSE, "vector"),
    Register("orig_rax", 8, "int", _LINUX, "system"),
    Register("fs_base", 8, "int", _SEGMENTS),
    Register("gs_base", 8, "int", _SEGMENTS),
)

# Unicorn's names for the registers that are a plain read of one Unicorn register of another name.
UNICORN_NAMES = {
    "fctrl": "FPCW",
    "fstat": "FPSW",
    "fiseg": "FCS",
    "fioff": "FIP",
    "foseg": "FDS",
    "fooff": "FDP",
    "fop": "FOP",
}


def x87_top(fstat: int) -> int:
    return (fstat >> 11) & 7


def tag_word_for_gdb(unicorn_tags: int) -> int:
    """Unicorn's tag word (1 per empty register) as gdb's full one (3 per empty register, 0 valid)."""
    return sum((3 if (unicorn_tags >> (2 * n)) & 3 == 1 else 0) << (2 * n) for n in range(8))


def tag_word_for_unicorn(gdb_tags: int) -> int:
    return sum((1 if (gdb_tags >> (2 * n)) & 3 == 3 else 0) << (2 * n) for n in range(8))


def read(name: str, read_unicorn: Callable[[str], int | tuple[int, int]]) -> int:
    """gdb's register ``name`` as an unsigned integer of its width, from ``read_unicorn`` (a Unicorn name)."""
    if name.startswith("st"):
        physical = (x87_top(int(read_unicorn("FPSW"))) + int(name[2:])) & 7  # type: ignore[call-overload]
        mantissa, exponent = read_unicorn(f"FP{physical}")  # type: ignore[misc]
        return int(mantissa) | int(exponent) << 64
    if name == "ftag":
        return tag_word_for_gdb(int(read_unicorn("FPTAG")))  # type: ignore[call-overload]
    if name == "orig_rax":
        return (1 << 64) - 1  # -1: not inside a system call
    return int(read_unicorn(UNICORN_NAMES.get(name, name.upper())))  # type: ignore[call-overload]


def write(
    name: str,
    value: int,
    read_unicorn: Callable[[str], int | tuple[int, int]],
    write_unicorn: Callable[[str, int | tuple[int, int]], None],
) -> None:
    if name.startswith("st"):
        physical = (x87_top(int(read_unicorn("FPSW"))) + int(name[2:])) & 7  # type: ignore[call-overload]
        write_unicorn(f"FP{physical}", (value & ((1 << 64) - 1), value >> 64 & 0xFFFF))
    elif name == "ftag":
        write_unicorn("FPTAG", tag_word_for_unicorn(value))
    elif name != "orig_rax":
        write_unicorn(UNICORN_NAMES.get(name, name.upper()), value)


_FEATURES = {
    _CORE: "org.gnu.gdb.i386.core",
    _SSE: "org.gnu.gdb.i386.sse",
    _LINUX: "org.gnu.gdb.i386.linux",
    _SEGMENTS: "org.gnu.gdb.i386.segments",
}

_TYPES = {
    _CORE: """<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
<field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
<field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
<field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/></flags>""",
    _SSE: """<vector id="v8bf16" type="bfloat16" count="8"/><vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/><vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128"><field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/>
<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>
<flags id="i386_mxcsr" size="4">
<field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
<field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
<field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
<field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
<field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/></flags>""",
}


def target_xml() -> bytes:
    parts = ['<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">']
    parts.append("<target><architecture>i386:x86-64</architecture>")
    for feature, full_name in _FEATURES.items():
        parts.append(f'<feature name="{full_name}">{_TYPES.get(feature, "")}')
        for number, register in enumerate(REGISTERS):
            if register.feature == feature:
                group = f' group="{register.group}"' if register.group else ""
                parts.append(
                    f'<reg name="{register.name}" bitsize="{register.size * 8}" type="{register.type}" '
                    f'regnum="{number}"{group}/>'
                )
        parts.append("</feature>")
    parts.append("</target>")
    return "".join(parts).encode()
