"""Emulated physical memory and the 4 KiB frames carved out of it.

Data flow: the machine creates one ``PhysicalMemory`` and maps its ``buffer`` into Unicorn at guest-physical
address 0 (``mem_map_ptr``), so RAM written here is exactly what the CPU sees and vice versa. Everything above
``reserved`` is handed out frame by frame by one ``FrameAllocator``: page-table frames (``pagetable.py``) and
object frames (``space.FrameCache``) come from the same pool. When none is left, ``alloc`` raises ``OutOfFrames``;
the machine turns that into a fault of the guest whose page could not be backed.

Why RAM is at most 4 GiB: Unicorn 2.1.4 masks CR3 writes to 32 bits, so every page table (the PML4 above all)
must live below 4 GiB of physical memory. Capping RAM at 4 GiB keeps every frame the allocator can return -
and therefore every table - below that line, with no separate "low" pool to manage.
"""

from __future__ import annotations

import mmap
import os
import struct
import weakref

from twzemu.errors import PhysMemError
from twzemu.objects.layout import PAGE_SIZE

PAGE_MASK = PAGE_SIZE - 1
MAX_PHYS_SIZE = 1 << 32  # Unicorn 2.1.4 truncates CR3 to 32 bits: see the module docstring.

_U64 = struct.Struct("<Q")
_ZERO_FRAME = bytes(PAGE_SIZE)


def size_text(size: int) -> str:
    """A RAM size as people write it: ``512 MiB``, ``1 GiB``, ``1540 KiB`` (the largest exact unit)."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size and not size & ((1 << shift) - 1):
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


class OutOfFrames(PhysMemError):
    """Every frame is in use: what the guest asked for does not fit in the emulated RAM.

    Raised by ``FrameAllocator.alloc``; the machine turns one raised while backing a guest page into a guest
    fault (``events.Fault.out_of_memory``), so a guest that touches too much memory is stopped like any other
    faulting guest, never the emulator.
    """

    def __init__(self, ram_size: int) -> None:
        self.ram_size = ram_size
        super().__init__(f"out of emulated physical memory ({size_text(ram_size)})")


class RamImage:
    """RAM as it was at one moment (``PhysicalMemory.image``): a copy of its first ``used`` bytes in a memory file
    the size of RAM (above them RAM was zero). Its descriptor closes with it."""

    __slots__ = ("__weakref__", "fd", "used")

    def __init__(self, fd: int, used: int) -> None:
        self.fd = fd
        self.used = used
        weakref.finalize(self, os.close, fd)


class PhysicalMemory:
    """``size`` bytes of zero-initialised RAM in an anonymous mapping, addressed by physical address.

    ``image`` copies the used part of RAM into a memory file: ``machine.snapshot`` maps it privately over RAM, at
    the same address, and maps it again to restore (the host kernel's copy-on-write)."""

    __slots__ = ("_closed", "buffer", "size", "view")

    def __init__(self, size: int) -> None:
        if size <= 0 or size & PAGE_MASK or size > MAX_PHYS_SIZE:
            raise PhysMemError(
                f"emulated RAM size {size:#x} must be a positive multiple of {PAGE_SIZE:#x} "
                f"of at most {MAX_PHYS_SIZE:#x} bytes"
            )
        self.size = size
        self.buffer = mmap.mmap(-1, size)
        self.view = memoryview(self.buffer)
        self._closed = False

    def _check(self, pa: int, n: int) -> None:
        if pa < 0 or n < 0 or pa + n > self.size:
            raise PhysMemError(f"physical access {pa:#x}+{n:#x} is outside emulated RAM (size {self.size:#x})")

    def read(self, pa: int, n: int) -> bytes:
        """The ``n`` bytes at physical address ``pa``."""
        self._check(pa, n)
        return self.buffer[pa : pa + n]

    def write(self, pa: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at physical address ``pa``."""
        n = len(data)
        self._check(pa, n)
        self.view[pa : pa + n] = data

    def read_u64(self, pa: int) -> int:
        """The little-endian 64-bit word at ``pa`` (a page-table entry, for instance)."""
        self._check(pa, 8)
        return _U64.unpack_from(self.view, pa)[0]

    def write_u64(self, pa: int, value: int) -> None:
        """Store ``value`` as a little-endian 64-bit word at ``pa``."""
        self._check(pa, 8)
        _U64.pack_into(self.view, pa, value)

    def zero_frame(self, pa: int) -> None:
        """Clear the 4 KiB frame at ``pa`` (which must be frame-aligned)."""
        if pa & PAGE_MASK:
            raise PhysMemError(f"frame address {pa:#x} is not 4 KiB aligned")
        self._check(pa, PAGE_SIZE)
        self.view[pa : pa + PAGE_SIZE] = _ZERO_FRAME

    def is_zero_frame(self, pa: int) -> bool:
        """Whether every byte of the frame at ``pa`` is zero (an empty page table, for instance)."""
        self._check(pa, PAGE_SIZE)
        return self.view[pa : pa + PAGE_SIZE] == _ZERO_FRAME

    def image(self, used: int) -> RamImage:
        """RAM as it is now, in a memory file; every byte at or above ``used`` must be zero."""
        used = min((used + PAGE_MASK) & ~PAGE_MASK, self.size)
        if not hasattr(os, "memfd_create"):
            raise PhysMemError("snapshots need Linux's memfd_create")
        image = RamImage(os.memfd_create("twzemu-ram", os.MFD_CLOEXEC), used)
        os.ftruncate(image.fd, self.size)
        done = 0
        while done < used:
            done += os.pwrite(image.fd, self.view[done:used], done)
        return image

    def close(self) -> None:
        """Release the view and the mapping; safe to call twice.

        Raises ``PhysMemError`` while a foreign export (the machine's ctypes array over ``buffer``) is alive;
        drop it and call again. Either way ``view`` - and so every page table and address space built on
        this RAM - is unusable afterwards.
        """
        if self._closed:
            return
        self.view.release()
        try:
            self.buffer.close()
        except BufferError as exc:
            self.view = memoryview(self.buffer)
            raise PhysMemError("emulated RAM is still exported (drop the machine's view first)") from exc
        self._closed = True

    def __enter__(self) -> PhysicalMemory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class FrameAllocator:
    """Hands out zeroed 4 KiB frames of ``mem`` from ``reserved`` upward.

    Frames below ``reserved`` belong to the machine (boot code, GDT). Never-used frames are zero because the
    mapping is anonymous; freed frames are scrubbed on ``free`` so stale contents never reach another object
    or address space - ``alloc`` therefore never has to clear anything.
    """

    __slots__ = ("_free", "_free_set", "_next", "keep", "mem", "reserved")

    def __init__(self, mem: PhysicalMemory, reserved: int, keep: int = 0) -> None:
        if reserved < 0 or reserved & PAGE_MASK or reserved > mem.size:
            raise PhysMemError(f"reserved size {reserved:#x} must be 4 KiB aligned and within RAM (size {mem.size:#x})")
        self.mem = mem
        self.reserved = reserved
        self.keep = keep  # frames only ``alloc(reserve=True)`` may take
        self._next = reserved
        self._free: list[int] = []
        self._free_set: set[int] = set()

    @property
    def available(self) -> int:
        """How many frames ``alloc`` can still return."""
        return len(self._free) + (self.mem.size - self._next) // PAGE_SIZE

    @property
    def high_water(self) -> int:
        """The end of the frames handed out so far: RAM above it has never been used (and is zero)."""
        return self._next

    @property
    def free_count(self) -> int:
        """How many frames were given back and not handed out again."""
        return len(self._free)

    def alloc(self, reserve: bool = False) -> int:
        """The physical address of a zeroed frame now owned by the caller. The last ``keep`` frames are only for
        ``reserve`` requests: pages of images and page tables, which the guest needs to go on (to unwind, to
        exit) even after some compartment's heap or stack used up the rest."""
        if not reserve and self.available <= self.keep:
            raise OutOfFrames(self.mem.size)
        if self._free:
            pa = self._free.pop()
            self._free_set.discard(pa)
            return pa
        pa = self._next
        if pa >= self.mem.size:
            raise OutOfFrames(self.mem.size)
        self._next = pa + PAGE_SIZE
        return pa

    def free(self, pa: int) -> None:
        """Give back a frame ``alloc`` returned; double frees and foreign addresses are refused."""
        if pa & PAGE_MASK or not self.reserved <= pa < self._next or pa in self._free_set:
            raise PhysMemError(f"frame {pa:#x} was not allocated by this allocator (or is already free)")
        self.mem.zero_frame(pa)
        self._free.append(pa)
        self._free_set.add(pa)
