"""The on-disk form of one object: encode to a stream of chunks, decode from bytes.

Format version 1, little endian::

    header   magic "TWZEMUOB" (8) | version u16 | lifetime u16 | id u128 (16) | page count u32 | zero u32
    pages    page count * ( page index u32 | PAGE_SIZE bytes ), by strictly increasing index
    trailer  CRC-32 of every byte before it, u32

Only non-zero pages are written; ``MetaInfo`` and the FOT live in the object's own pages (the meta page is the
last one), so they need no fields of their own. Decoding checks every field and the CRC: a truncated, padded
or bit-flipped file is reported as damaged, naming the file, and never half-loaded.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from twzemu.errors import ObjectError
from twzemu.objects.layout import PAGE_SIZE, PAGES_PER_OBJECT
from twzemu.objects.object import Lifetime, Object
from twzemu.objects.objid import ObjId

MAGIC = b"TWZEMUOB"
VERSION = 1
_HEADER = struct.Struct("<8sHH16sII")
_PAGE_INDEX = struct.Struct("<I")
_TRAILER = struct.Struct("<I")
_RECORD_SIZE = _PAGE_INDEX.size + PAGE_SIZE


def encode(obj: Object) -> Iterator[bytes]:
    """The file's bytes, in chunks (one per page) so a large object is never copied whole."""
    pages = list(obj.iter_pages())
    header = _HEADER.pack(MAGIC, VERSION, obj.lifetime.value, obj.id.to_bytes_le(), len(pages), 0)
    crc = zlib.crc32(header)
    yield header
    for index, content in pages:
        record = _PAGE_INDEX.pack(index) + content
        crc = zlib.crc32(record, crc)
        yield record
    yield _TRAILER.pack(crc)


def decode(data: bytes, source: str) -> Object:
    """Rebuild an object from a whole file's bytes; ``source`` names the file in errors."""
    if len(data) < _HEADER.size + _TRAILER.size:
        raise _damaged(source, f"{len(data)} bytes is too short for an object file")
    magic, version, lifetime, raw_id, count, reserved = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise _damaged(source, f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise _damaged(source, f"format version {version}, this twzemu reads version {VERSION}")
    expected = _HEADER.size + count * _RECORD_SIZE + _TRAILER.size
    if len(data) != expected:
        raise _damaged(source, f"{len(data)} bytes, the header promises {count} pages ({expected} bytes)")
    (stored_crc,) = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
    if zlib.crc32(memoryview(data)[: -_TRAILER.size]) != stored_crc:
        raise _damaged(source, "checksum mismatch")
    if reserved != 0 or lifetime not in {member.value for member in Lifetime}:
        raise _damaged(source, f"bad header fields (lifetime {lifetime}, reserved {reserved})")
    obj = Object(ObjId.from_bytes_le(raw_id), Lifetime(lifetime))
    _load_pages(obj, data, count, source)
    return obj


def _damaged(source: str, reason: str) -> ObjectError:
    return ObjectError(f"damaged object file {source}: {reason}")


def _load_pages(obj: Object, data: bytes, count: int, source: str) -> None:
    previous = -1
    offset = _HEADER.size
    for _ in range(count):
        (index,) = _PAGE_INDEX.unpack_from(data, offset)
        if not previous < index < PAGES_PER_OBJECT:
            raise _damaged(source, f"page index {index} out of order or beyond the object")
        start = offset + _PAGE_INDEX.size
        obj.load_page(index, data[start : start + PAGE_SIZE])
        previous = index
        offset += _RECORD_SIZE
