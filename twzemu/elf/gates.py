"""Secure-gate declarations: the records ``TWZ_GATE(fn)`` puts in section ``.twz_secgate_info``.

A record is ``struct twz_gate_record`` (``abi.GATE_RECORD``, mirroring ``twzemu/sdk/include/twz.h``): the gate
function's name, NUL-terminated, then its isolation level as a little-endian int64; no pointers, so it needs no
relocation and can live with the read-only text. The linker binds the name to the library's dynamic symbol to get
the entry, and refuses a record whose symbol is not a function in the library's own executable segment, or whose
name is one of the monitor's (``linker.link``): a record is only a claim made by the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..abi import GATE_RECORD, GATE_SECTION, IsolationLevel
from ..cache import Json, json_int, json_str
from ..errors import ElfError
from .image import ElfImage, elf_errors

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile


@dataclass(frozen=True, slots=True)
class GateRecord:
    name: str
    level: IsolationLevel


def read_gate_records(image: ElfImage) -> tuple[GateRecord, ...]:
    """Every gate ``image`` declares, in section order; empty when it declares none (kept in the image's cache)."""
    return image.derived("gates", lambda: _read(image), _encode, _decode)


def _read(image: ElfImage) -> tuple[GateRecord, ...]:
    with elf_errors(image.path):
        return _records(image.path, image.elf)


def _records(path: str, elf: ELFFile) -> tuple[GateRecord, ...]:
    section = elf.get_section_by_name(GATE_SECTION)
    if section is None:
        return ()
    data = section.data()
    if len(data) % GATE_RECORD.size:
        raise ElfError(
            f"{path}: {GATE_SECTION} is {len(data)} bytes, not a whole number of {GATE_RECORD.size}-byte records"
        )
    records = []
    for raw_name, level in GATE_RECORD.iter_unpack(data):
        name, nul, _ = raw_name.partition(b"\0")
        if not nul or not name:
            raise ElfError(f"{path}: a gate record in {GATE_SECTION} has no NUL-terminated name")
        if level not in IsolationLevel._value2member_map_:
            raise ElfError(f"{path}: gate {name.decode(errors='replace')} has unknown isolation level {level}")
        records.append(GateRecord(name.decode("utf-8", "replace"), IsolationLevel(level)))
    return tuple(records)


def _encode(records: tuple[GateRecord, ...]) -> Json:
    return [[record.name, int(record.level)] for record in records]


def _decode(rows: Json) -> tuple[GateRecord, ...]:
    return tuple(GateRecord(json_str(name), IsolationLevel(json_int(level))) for name, level in rows)
