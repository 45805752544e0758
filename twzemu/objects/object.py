"""One object: an id, a lifetime and up to 1 GiB of sparse, page-granular memory.

Data flow: the loader ``write``s ELF segments into the data area (offset ``DATA_OFFSET`` up); the MMU asks
``iter_pages`` / ``read`` for the bytes to copy into emulated physical frames; the store serializes
``iter_pages`` and rebuilds an object with ``load_page``. FOT entries (``add_fot_entry``) and ``meta`` follow
Twizzler's layout, so invariant pointers between objects resolve; no guest creates them yet (the objects issue
gives guests that).

Memory is a dict from page index to a ``bytearray(PAGE_SIZE)``. A page exists only once something non-zero
was written to it, so an object that is mostly empty (every object: 1 GiB, with the meta page at the far
end) costs only the pages it uses. Reads of absent pages return zeros.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator

from twzemu.errors import ObjectError
from twzemu.objects.layout import (
    DATA_OFFSET,
    FOT_ENTRY_SIZE,
    MAX_META_EXTS,
    MAX_OBJECT_SIZE,
    META_EXT_SIZE,
    META_INFO_SIZE,
    META_OFFSET,
    PAGE_SHIFT,
    PAGE_SIZE,
    PAGES_PER_OBJECT,
    FotEntry,
    FotFlags,
    MetaExt,
    MetaExtTag,
    MetaInfo,
    fot_entry_offset,
    meta_ext_offset,
)
from twzemu.objects.objid import ObjId

_ZERO_PAGE = bytes(PAGE_SIZE)
_PAGE_MASK = PAGE_SIZE - 1


class Lifetime(enum.Enum):
    """Whether an object outlives the run (Twizzler's ``LifetimeType``, same numbering)."""

    VOLATILE = 0
    PERSISTENT = 1

    def __str__(self) -> str:
        return self.name.lower()


class Object:
    """A Twizzler object held in host memory. Mutable; compare with ``==`` (id, lifetime and content)."""

    __slots__ = ("_id", "_lifetime", "_pages", "_writes")

    def __init__(self, id: ObjId, lifetime: Lifetime = Lifetime.VOLATILE) -> None:
        self._id = id
        self._lifetime = lifetime
        self._pages: dict[int, bytearray] = {}
        self._writes = 0  # how many writes changed it: a snapshot puts its pages back only if one did

    def __snapshot__(self) -> tuple[int, dict[int, bytes]]:
        """Its content now, for ``__restore__`` (``machine.snapshot``)."""
        return self._writes, {index: bytes(page) for index, page in self._pages.items()}

    def __restore__(self, saved: tuple[int, dict[int, bytes]]) -> None:
        writes, pages = saved
        if writes != self._writes:
            self._pages = {index: bytearray(page) for index, page in pages.items()}
            self._writes = writes

    @property
    def id(self) -> ObjId:
        return self._id

    @property
    def lifetime(self) -> Lifetime:
        return self._lifetime

    def __repr__(self) -> str:
        return f"Object({self._id}, {self._lifetime}, {len(self._pages)} pages)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Object):
            return NotImplemented
        return (
            self._id == other._id
            and self._lifetime == other._lifetime
            and dict(self.iter_pages()) == dict(other.iter_pages())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: not a dict key

    # --- raw bytes ------------------------------------------------------------------------------------------

    def _check_span(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > MAX_OBJECT_SIZE:
            raise ObjectError(
                f"object {self._id}: {length} bytes at offset {offset:#x} lie outside the object "
                f"(0..{MAX_OBJECT_SIZE:#x})"
            )

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset``; never-written bytes read as zero."""
        self._check_span(offset, length)
        first = offset >> PAGE_SHIFT
        start = offset & _PAGE_MASK
        if start + length <= PAGE_SIZE:  # the common case: one page
            page = self._pages.get(first)
            return bytes(length) if page is None else bytes(page[start : start + length])
        out = bytearray(length)
        done = 0
        while done < length:
            index, start = divmod(offset + done, PAGE_SIZE)
            count = min(PAGE_SIZE - start, length - done)
            page = self._pages.get(index)
            if page is not None:
                out[done : done + count] = page[start : start + count]
            done += count
        return bytes(out)

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` to ``offset``. Zero bytes aimed at a page that does not exist allocate nothing."""
        source = data if isinstance(data, bytes | bytearray) else bytes(data)
        length = len(source)
        self._check_span(offset, length)
        view = memoryview(source)
        self._writes += 1
        done = 0
        while done < length:
            index, start = divmod(offset + done, PAGE_SIZE)
            count = min(PAGE_SIZE - start, length - done)
            page = self._pages.get(index)
            if page is None:
                if source.count(0, done, done + count) == count:
                    done += count
                    continue
                page = self._pages[index] = bytearray(PAGE_SIZE)
            page[start : start + count] = view[done : done + count]
            done += count

    def page(self, index: int) -> bytes | None:
        """Page ``index`` as written so far, or None if it was never written (it reads as zeros)."""
        page = self._pages.get(index)
        return None if page is None else bytes(page)

    def iter_pages(self) -> Iterator[tuple[int, bytes]]:
        """``(page index, content)`` of every page holding a non-zero byte, by increasing index."""
        for index in sorted(self._pages):
            page = self._pages[index]
            if page != _ZERO_PAGE:
                yield index, bytes(page)

    def load_page(self, index: int, content: bytes) -> None:
        """Set a whole page at once (used to rebuild an object from its serialized pages)."""
        if not 0 <= index < PAGES_PER_OBJECT:
            raise ObjectError(f"object {self._id}: page index {index} is outside 0..{PAGES_PER_OBJECT - 1}")
        if len(content) != PAGE_SIZE:
            raise ObjectError(f"object {self._id}: page {index} has {len(content)} bytes, not {PAGE_SIZE}")
        self._pages[index] = bytearray(content)
        self._writes += 1

    # --- metadata -------------------------------------------------------------------------------------------

    @property
    def meta(self) -> MetaInfo:
        """The MetaInfo at ``META_OFFSET`` (all zeros until written)."""
        return MetaInfo.unpack(self.read(META_OFFSET, META_INFO_SIZE))

    @meta.setter
    def meta(self, info: MetaInfo) -> None:
        self.write(META_OFFSET, info.pack())

    def meta_exts(self) -> list[MetaExt]:
        """The ``extcount`` MetaExt records after MetaInfo, in order."""
        count = self.meta.extcount
        raw = self.read(meta_ext_offset(0), count * META_EXT_SIZE)
        return [MetaExt.unpack(raw[i * META_EXT_SIZE :]) for i in range(count)]

    def meta_ext(self, tag: int) -> int | None:
        """The value of the first extension with ``tag``, or None."""
        return next((ext.value for ext in self.meta_exts() if ext.tag == tag), None)

    def set_meta_ext(self, tag: int, value: int) -> None:
        """Set the extension with ``tag`` to ``value``, appending a record if there is none yet."""
        record = MetaExt(tag, value)
        exts = self.meta_exts()
        index = next((i for i, ext in enumerate(exts) if ext.tag == tag), len(exts))
        if index == MAX_META_EXTS:
            raise ObjectError(f"object {self._id}: no room for meta extension {tag} ({MAX_META_EXTS} in use)")
        self.write(meta_ext_offset(index), record.pack())
        if index == len(exts):
            self._replace_meta(extcount=index + 1)

    def _replace_meta(self, **changes: int) -> None:
        self.meta = dataclasses.replace(self.meta, **changes)

    @property
    def data_size(self) -> int:
        """Bytes of data from ``DATA_OFFSET``: the ``SIZED`` extension if set, else the page-rounded extent
        of the non-zero pages below the FOT."""
        sized = self.meta_ext(MetaExtTag.SIZED)
        if sized is not None:
            return sized
        data_pages = self._data_pages()
        return (data_pages[-1][0] + 1) * PAGE_SIZE - DATA_OFFSET if data_pages else 0

    def _data_pages(self) -> list[tuple[int, bytes]]:
        """``(page index, content)`` of the non-zero pages between the meta data and the FOT, by increasing index."""
        fot_bottom_page = fot_entry_offset(max(self.meta.fotcount, 1)) >> PAGE_SHIFT
        return [(i, page) for i, page in self.iter_pages() if DATA_OFFSET >> PAGE_SHIFT <= i < fot_bottom_page]

    def cover_written_data(self) -> None:
        """A ``SIZED`` object whose data now reaches past its size (a guest wrote there) is as large as its data:
        up to its last non-zero byte below the FOT. Meta data a guest made malformed is left as it is."""
        try:
            sized = self.meta_ext(MetaExtTag.SIZED)
            data_pages = self._data_pages()
        except ObjectError:
            return
        if sized is None or not data_pages:
            return
        index, page = data_pages[-1]
        end = index * PAGE_SIZE + len(page.rstrip(b"\0")) - DATA_OFFSET
        if end > sized:
            self.set_meta_ext(MetaExtTag.SIZED, end)

    # --- foreign object table -------------------------------------------------------------------------------

    def fot_entry(self, index: int) -> FotEntry:
        """FOT entry ``index`` (1..fotcount)."""
        count = self.meta.fotcount
        if not 1 <= index <= count:
            raise ObjectError(f"object {self._id}: FOT index {index} is outside 1..{count}")
        return FotEntry.unpack(self.read(fot_entry_offset(index), FOT_ENTRY_SIZE))

    def fot_entries(self) -> list[FotEntry]:
        """Entries 1..fotcount, in index order (element 0 is entry 1)."""
        return [self.fot_entry(i) for i in range(1, self.meta.fotcount + 1)]

    def add_fot_entry(self, target: ObjId, flags: FotFlags = FotFlags.ALLOCATED | FotFlags.ACTIVE) -> int:
        """Index of a FOT entry naming ``target``: a live one with the same flags if any, else a new one."""
        entry = FotEntry(target, flags)
        for index, existing in enumerate(self.fot_entries(), start=1):
            if existing == entry and existing.is_live:
                return index
        index = self.meta.fotcount + 1
        self.write(fot_entry_offset(index), entry.pack())
        self._replace_meta(fotcount=index)
        return index
