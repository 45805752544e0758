"""How gdb unwinds from a gate's frames to its caller's: call frame information for every gate, served with the
crossing records.

A gate runs on a fresh stack whose return address is the monitor's return point, so the gate's own unwind rules
(its library's CFI) would give the caller a pc in the monitor and an rsp in the callee's stack. gdb matches
``finish`` and ``next`` stops by the caller's frame (its CFA), so the caller's pc, rsp, rbp, rbx and r12-r15 must
come from the crossing record instead. The stub lists one more "library" for gdb before every real one: a small
ELF file of ``.debug_frame`` entries over each gate's code, which gdb finds first. Each entry keeps the gate's
own CFA rules and, for the registers the caller gets back, asks a shadow of the stack at an address derived from
the frame's CFA (``shadow_address``): if a crossing's callee started at that CFA, the stub serves its record
there (``shadow_read``), and the rule takes the caller's value; otherwise the stub serves zero and the gate's own
rule applies (a gate called from inside its compartment is an ordinary function).

The shadow lies in the non-canonical upper half, where no guest maps anything: ``SHADOW_BASE + CFA * 128`` then
one 8-byte field per register.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from elftools.dwarf.callframe import FDE, CFARule, RegisterRule
from elftools.elf.elffile import ELFFile

SHADOW_BASE = 1 << 63
SHADOW_SCALE = 128  # bytes of shadow per byte of stack: room for the fields of one record

# DWARF register numbers of x86-64 (psABI figure 3.36) the caller gets back, and their field in a record.
RIP, RSP, RBP, RBX = 16, 7, 6, 3
FIELDS: tuple[int, ...] = (RIP, RSP, RBP, RBX, 12, 13, 14, 15)  # field 0 is the flag: a crossing starts here
WORD = 8


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    """What the caller of one crossing gets back, keyed by the CFA of the gate's frame."""

    cfa: int  # the callee's rsp at its first instruction, plus the return address
    rip: int  # after the call (0 for a call of the monitor's: there is no caller frame)
    rsp: int
    rbp: int
    rbx: int
    r12_r15: tuple[int, int, int, int]

    def fields(self) -> tuple[int, ...]:
        return (1, self.rip, self.rsp, self.rbp, self.rbx, *self.r12_r15)


@dataclass(frozen=True, slots=True)
class GateCode:
    """One gate's code as gdb sees it: its image file, where that image is loaded, and its entry address."""

    path: str
    base: int
    entry: int


def shadow_address(cfa: int, field: int = 0) -> int:
    return (SHADOW_BASE + cfa * SHADOW_SCALE + field * WORD) & ((1 << 64) - 1)


def is_shadow(address: int) -> bool:
    return address >= SHADOW_BASE


def shadow_read(address: int, length: int, records: Iterable[ShadowRecord]) -> bytes:
    """``length`` bytes of the shadow at ``address``: each word is its record's field, or zero."""
    by_cfa = {record.cfa: record for record in records}
    out = bytearray()
    first = (address - SHADOW_BASE) // WORD
    last = (address - SHADOW_BASE + length + WORD - 1) // WORD
    for word in range(first, last):
        cfa, field = divmod(word * WORD, SHADOW_SCALE)
        record = by_cfa.get(cfa)
        fields = record.fields() if record is not None else ()
        out += struct.pack("<Q", fields[field // WORD] if field // WORD < len(fields) else 0)
    start = (address - SHADOW_BASE) - first * WORD
    return bytes(out[start : start + length])


# -- the ELF file gdb loads ------------------------------------------------------------------------------------

DW_CFA_set_loc, DW_CFA_def_cfa, DW_CFA_def_cfa_expression, DW_CFA_val_expression = 0x01, 0x0C, 0x0F, 0x16
DW_OP_deref, DW_OP_const8u, DW_OP_constu, DW_OP_consts, DW_OP_dup, DW_OP_drop = 0x06, 0x0E, 0x10, 0x11, 0x12, 0x13
DW_OP_mul, DW_OP_plus, DW_OP_bra, DW_OP_skip, DW_OP_lit0, DW_OP_breg0 = 0x1E, 0x22, 0x28, 0x2F, 0x30, 0x70


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def _shadow_field(field: int) -> bytes:
    """CFA on the stack -> the address of the field of the shadow at that CFA."""
    return (
        bytes([DW_OP_constu, *uleb(SHADOW_SCALE), DW_OP_mul, DW_OP_const8u])
        + struct.pack("<Q", shadow_address(0, field))
        + bytes([DW_OP_plus])
    )


def _own_rule(register: int, rule: RegisterRule | None) -> bytes | None:
    """The gate's own rule for ``register`` as a value expression over the CFA (None: one this file cannot
    express, and the gate is left to its library's rules)."""
    if rule is None or rule.type in (RegisterRule.SAME_VALUE, RegisterRule.UNDEFINED):
        if register == RSP:
            return b""  # the CFA is the caller's rsp
        if register == RIP:
            return bytes([DW_OP_drop, DW_OP_lit0])
        return bytes([DW_OP_drop, DW_OP_breg0 + register, 0])
    if rule.type == RegisterRule.OFFSET:
        return bytes([DW_OP_consts, *sleb(rule.arg), DW_OP_plus, DW_OP_deref])
    if rule.type == RegisterRule.VAL_OFFSET:
        return bytes([DW_OP_consts, *sleb(rule.arg), DW_OP_plus])
    if rule.type == RegisterRule.REGISTER:
        return bytes([DW_OP_drop, DW_OP_breg0 + rule.arg, 0])
    return None


def _register_rule(register: int, rule: RegisterRule | None) -> bytes | None:
    own = _own_rule(register, rule)
    if own is None:
        return None
    from_record = _shadow_field(1 + FIELDS.index(register)) + bytes([DW_OP_deref])
    own += bytes([DW_OP_skip]) + struct.pack("<h", len(from_record))
    expression = bytes([DW_OP_dup, *_shadow_field(0), DW_OP_deref, DW_OP_bra]) + struct.pack("<h", len(own))
    expression += own + from_record
    return bytes([DW_CFA_val_expression, *uleb(register), *uleb(len(expression))]) + expression


def _cfa_rule(rule: CFARule) -> bytes | None:
    if rule.expr is not None or rule.reg is None:
        return None
    return bytes([DW_CFA_def_cfa, *uleb(rule.reg), *uleb(rule.offset)])


def _rows(fde: FDE, base: int) -> bytes | None:
    instructions = bytearray()
    for index, row in enumerate(fde.get_decoded().table):
        if index:
            instructions += bytes([DW_CFA_set_loc]) + struct.pack("<Q", base + row["pc"])
        cfa = _cfa_rule(row["cfa"])
        if cfa is None:
            return None
        instructions += cfa
        for register in FIELDS:
            rule = _register_rule(register, row.get(register))
            if rule is None:
                return None
            instructions += rule
    return bytes(instructions)


def frame_entries(path: str) -> list[FDE]:
    """The FDEs of an image, decoded; none for an image whose call frame information cannot be read (a library's
    ELF contents are hostile: pyelftools fails on them in many ways, each means "ordinary frames")."""
    try:
        with open(path, "rb") as stream:
            dwarf = ELFFile(stream).get_dwarf_info(follow_links=False)
            entries = list(dwarf.CFI_entries()) if dwarf.has_CFI() else []
            if not entries and dwarf.has_EH_CFI():
                entries = list(dwarf.EH_CFI_entries())
            fdes = [entry for entry in entries if isinstance(entry, FDE)]
            for fde in fdes:
                fde.get_decoded()  # while the file is open
                int(fde.header["initial_location"]) + int(fde.header["address_range"])
            return fdes
    except Exception:  # any parse failure of untrusted input (see above)
        return []


def gate_fdes(gates: Iterable[GateCode]) -> Iterator[tuple[int, int, bytes]]:
    """(start, length, instructions) of each gate whose library describes its frame in a form we can rewrite."""
    by_path: dict[str, list[FDE]] = {}
    for gate in gates:
        if gate.path not in by_path:
            by_path[gate.path] = frame_entries(gate.path)
        offset = gate.entry - gate.base
        for fde in by_path[gate.path]:
            start, length = fde.header["initial_location"], fde.header["address_range"]
            if start <= offset < start + length:
                try:
                    rows = _rows(fde, gate.base)
                except (KeyError, TypeError, AttributeError, ValueError):  # a row this file cannot express
                    rows = None
                if rows is not None:
                    yield gate.base + start, length, rows
                break


def debug_frame(entries: Sequence[tuple[int, int, bytes]]) -> bytes:
    """A ``.debug_frame`` section (DWARF 3 CIE; absolute 8-byte addresses) holding ``entries``."""
    # CIE: id, version 3, no augmentation, code alignment 1, data alignment -8, return address column 16.
    cie_body = struct.pack("<IB", 0xFFFFFFFF, 3) + b"\0" + uleb(1) + sleb(-8) + uleb(RIP)
    out = bytearray(_padded(cie_body))
    seen: set[int] = set()
    for start, length, instructions in sorted(entries):
        if start in seen:
            continue
        seen.add(start)
        out += _padded(struct.pack("<IQQ", 0, start, length) + instructions)
    return bytes(out)


def _padded(body: bytes) -> bytes:
    body += b"\0" * (-(len(body) + 4) % WORD)  # DW_CFA_nop up to an 8-byte multiple, length word included
    return struct.pack("<I", len(body)) + body


def elf_file(frames: bytes, symbol: str, symbol_address: int) -> bytes:
    """A minimal ELF64 shared object: ``.debug_frame``, and one function symbol in a one-byte ``.text``."""
    shstrtab = b"\0.text\0.debug_frame\0.symtab\0.strtab\0.shstrtab\0"
    strtab = b"\0" + symbol.encode() + b"\0"
    symtab = b"\0" * 24 + struct.pack("<IBBHQQ", 1, 0x12, 0, 1, symbol_address, 1)  # GLOBAL FUNC in .text
    text = b"\xcc"
    header_size, section_header_size = 64, 64
    blobs = [text, frames, symtab, strtab, shstrtab]
    offsets, offset = [], header_size
    for blob in blobs:
        offset += -offset % WORD
        offsets.append(offset)
        offset += len(blob)
    offset += -offset % WORD
    section_headers_at = offset

    def name(text_name: bytes) -> int:
        return shstrtab.index(b"\0" + text_name + b"\0") + 1

    sections = [
        b"\0" * section_header_size,
        struct.pack("<IIQQQQIIQQ", name(b".text"), 1, 0x6, symbol_address, offsets[0], len(text), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", name(b".debug_frame"), 1, 0, 0, offsets[1], len(frames), 0, 0, 8, 0),
        struct.pack("<IIQQQQIIQQ", name(b".symtab"), 2, 0, 0, offsets[2], len(symtab), 4, 1, 8, 24),
        struct.pack("<IIQQQQIIQQ", name(b".strtab"), 3, 0, 0, offsets[3], len(strtab), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", name(b".shstrtab"), 3, 0, 0, offsets[4], len(shstrtab), 0, 0, 1, 0),
    ]
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, section_headers_at, 0, header_size, 0, 0, section_header_size,
        len(sections), len(sections) - 1,
    )  # fmt: skip
    image = bytearray(header)
    for blob, at in zip(blobs, offsets, strict=True):
        image += b"\0" * (at - len(image)) + blob
    image += b"\0" * (section_headers_at - len(image))
    for section in sections:
        image += section
    return bytes(image)
