"""Snapshots: a machine and the monitor's state on it as they were at one moment, to come back to many times.

``take(machine, roots)`` saves three things; ``Snapshot.restore`` puts them back:

- **the CPU**: Unicorn's context (every register, CR3, the segment bases and MSRs);
- **RAM**: copied once into a memory file (``PhysicalMemory.image``) that is mapped privately over RAM at the same
  address (Unicorn and every view keep their pointers); a restore maps it again, which drops each page written
  since, whoever wrote it (the guest through Unicorn, the monitor through ``write``): the host kernel's
  copy-on-write, so a restore costs the pages written, not the size of RAM;
- **the host side**: every mutable record of twzemu reachable from ``roots`` and the machine (the address spaces'
  slot tables, the frame allocator, the monitor's tables, the crossing engine's C structures), attribute by
  attribute: a container by its contents, put back *in place* so that each alias of it sees them again; a C
  structure by its bytes; a random generator by its state; an output stream by its length; any other object by
  identity. A record with ``__snapshot__`` saves itself (``__restore__`` puts it back); one whose class sets
  ``snapshot_exempt`` is a memo of facts that never change (a parsed ELF file, the derived-facts cache) and is
  left alone. What a case made after the snapshot (a thread, a file description, a frame) goes with the containers
  that held it. Host files written through ``--mount`` are outside the machine and stay written.

A restore flushes the emulated TLB (the page tables changed behind it) and, when frames were handed out since the
snapshot (code may have been paged in, or a later case may put other bytes in the same frame) or a guest mapped
code it wrote (``Machine.flush_translations``), the translated code too: a restore never leaves code translated
from bytes it put back.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import enum
import io
import mmap
import os
import random
import types
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from ..errors import MachineError, PhysMemError
from ..mmu.physmem import PhysicalMemory, RamImage
from .machine import Machine, SavedCpu

_ATOMS = (int, float, complex, str, bytes, bool, type(None), range, PurePath, enum.Enum, type, types.ModuleType,
          types.BuiltinFunctionType, memoryview)  # fmt: skip
_UNSET = object()
_MAP_FIXED = 0x10
_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]


def map_image(mem: PhysicalMemory, image: RamImage) -> None:
    """RAM as ``image`` holds it, copy-on-write: mapped over RAM where RAM is."""
    export = ctypes.c_char.from_buffer(mem.buffer)
    try:
        address = ctypes.addressof(export)
    finally:
        del export
    protection, flags = mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | _MAP_FIXED
    if _mmap(address, mem.size, protection, flags, image.fd, 0) != address:
        raise PhysMemError(f"cannot map a RAM image: {os.strerror(ctypes.get_errno())}")


class _HostState:
    """The saved host side (module docstring): what to put back, kind by kind."""

    __slots__ = ("attributes", "custom", "dicts", "lists", "randoms", "sets", "streams", "structures")

    def __init__(self) -> None:
        self.attributes: list[tuple[object, tuple[tuple[str, object], ...]]] = []
        self.dicts: list[tuple[dict[Any, Any], dict[Any, Any]]] = []
        self.lists: list[tuple[list[Any] | bytearray, list[Any] | bytearray]] = []
        self.sets: list[tuple[set[Any], set[Any]]] = []
        self.structures: list[tuple[Any, bytes]] = []
        self.randoms: list[tuple[random.Random, object]] = []
        self.streams: list[tuple[io.IOBase, int]] = []
        self.custom: list[tuple[Any, object]] = []  # records that save themselves (``__snapshot__``)

    def restore(self) -> None:
        for obj, values in self.attributes:
            for name, value in values:
                if value is _UNSET:
                    if hasattr(obj, name):
                        object.__delattr__(obj, name)
                elif getattr(obj, name, _UNSET) is not value:
                    object.__setattr__(obj, name, value)
        for mapping, saved in self.dicts:
            if mapping != saved:
                mapping.clear()
                mapping.update(saved)
        for sequence, saved_items in self.lists:
            if sequence != saved_items:
                sequence[:] = saved_items
        for members, saved_members in self.sets:
            if members != saved_members:
                members.clear()
                members.update(saved_members)
        for structure, data in self.structures:
            ctypes.memmove(ctypes.addressof(structure), data, len(data))
        for generator, state in self.randoms:
            generator.setstate(state)  # type: ignore[arg-type]
        for stream, length in self.streams:
            stream.seek(length)
            stream.truncate()
        for record, saved in self.custom:
            record.__restore__(saved)


def _slot_names(kind: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in kind.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return tuple(n for n in names if n not in ("__dict__", "__weakref__"))


def _save_host(roots: Iterable[object]) -> _HostState:
    """Walks everything reachable from ``roots`` and saves what can change (module docstring)."""
    state, seen, pending = _HostState(), set[int](), list(roots)
    while pending:
        obj = pending.pop()
        if isinstance(obj, _ATOMS) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            state.dicts.append((obj, dict(obj)))
            pending.extend(obj.keys())
            pending.extend(obj.values())
        elif isinstance(obj, collections.deque):
            state.lists.append((_DequeView(obj), list(obj)))  # type: ignore[arg-type]
            pending.extend(obj)
        elif isinstance(obj, (list, bytearray)):
            state.lists.append((obj, obj.copy()))
            if isinstance(obj, list):
                pending.extend(obj)
        elif isinstance(obj, set):
            state.sets.append((obj, set(obj)))
            pending.extend(obj)
        elif isinstance(obj, (tuple, frozenset)):
            pending.extend(obj)
        elif isinstance(obj, ctypes._SimpleCData | ctypes.Structure | ctypes.Array | ctypes.Union):
            state.structures.append((obj, ctypes.string_at(ctypes.addressof(obj), ctypes.sizeof(obj))))
            pending.extend(getattr(obj, "_objects", None) or ())
        elif isinstance(obj, random.Random):
            state.randoms.append((obj, obj.getstate()))
        elif isinstance(obj, (io.BytesIO, io.StringIO)):
            state.streams.append((obj, obj.tell()))
        elif isinstance(obj, types.MethodType):
            pending.append(obj.__self__)
        elif isinstance(obj, types.FunctionType):
            pending.extend(cell.cell_contents for cell in obj.__closure__ or () if _filled(cell))
        elif getattr(obj, "snapshot_exempt", False):
            continue
        elif hasattr(obj, "__snapshot__"):
            state.custom.append((obj, obj.__snapshot__()))
        elif type(obj).__module__.startswith("twzemu."):
            names = (*vars(obj), *_slot_names(type(obj))) if hasattr(obj, "__dict__") else _slot_names(type(obj))
            values = tuple((name, getattr(obj, name, _UNSET)) for name in dict.fromkeys(names))
            params = getattr(type(obj), "__dataclass_params__", None)
            if not (params is not None and params.frozen):
                state.attributes.append((obj, values))
            pending.extend(value for _, value in values)
    return state


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


class _DequeView:
    """A deque put back like a list (``view[:] = items``)."""

    __slots__ = ("deque",)

    def __init__(self, items: collections.deque[Any]) -> None:
        self.deque = items

    def __ne__(self, other: object) -> bool:
        return list(self.deque) != other

    def __setitem__(self, _: slice, items: list[Any]) -> None:
        self.deque.clear()
        self.deque.extend(items)


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """A machine and the records around it at one moment (module docstring)."""

    machine: Machine
    cpu: SavedCpu
    ram: RamImage
    host: _HostState
    frames_taken: tuple[int, int]  # the allocator's high-water mark and free count then
    translations: int  # ``Machine.translations_flushed`` then

    def restore(self) -> None:
        machine = self.machine
        if machine.mem is None or machine.frames is None:
            raise MachineError("the machine of this snapshot is closed")
        frames = machine.frames
        if (frames.high_water, frames.free_count) != self.frames_taken or (  # frames were paged in, or
            machine.translations_flushed != self.translations  # a guest mapped code it wrote
        ):
            machine.flush_translations()  # before the host side: its count goes back to the snapshot's
        machine.stop_switching()  # threads a case started are gone: so is what switched between them
        map_image(machine.mem, self.ram)
        self.host.restore()
        machine.restore_cpu(self.cpu)
        machine.flush_tlb()


def take(machine: Machine, roots: Iterable[object]) -> Snapshot:
    """The machine (stopped between runs) and everything reachable from ``roots`` and it, as they are now."""
    if machine.mem is None or machine.frames is None:
        raise MachineError("the machine is not booted")
    if machine.switching or machine.debugger is not None:
        why = "a debugger is attached" if machine.debugger is not None else "several threads run"
        raise MachineError(f"a snapshot is taken between calls, with one thread and no debugger ({why})")
    host = _save_host([machine, *roots])
    frames = machine.frames
    cpu = machine.save_cpu()
    ram = machine.mem.image(frames.high_water)
    map_image(machine.mem, ram)
    return Snapshot(machine, cpu, ram, host, (frames.high_water, frames.free_count), machine.translations_flushed)
