"""The layout of a Twizzler object, as byte-exact records.

An object is a 1 GiB range of bytes, addressed by offset::

    0x0000_0000  null page           never mapped: a null pointer faults in every object
    0x0000_1000  data                  (NULL_PAGE_SIZE) what programs and libraries put in the object
        ...
                 FOT entry n           foreign object table, growing *down* from the meta page:
                 ...                   entry i at META_OFFSET - (i + 1) * FOT_ENTRY_SIZE
                 FOT entry 1
                 (reserved slot)       index 0 means "this object" and has no entry
    0x3fff_f000  MetaInfo              (META_OFFSET) the last page: MetaInfo, then MetaExt records
    0x4000_0000  end                   (MAX_OBJECT_SIZE)

The records mirror Twizzler's ``repr(C)`` structs in ``twizzler-rt-abi`` (``object.rs``) on x86-64, little
endian, so a meta page written here could be read by Twizzler code and vice versa:

``MetaInfo`` (48 bytes; ``u128`` is 16-byte aligned, hence the tail padding)::

    off  size  field
      0    16  nonce         u128   ID nonce (avoids id collisions)
     16    16  kuid          ObjID  the object's public-key id
     32     2  flags         u16    MetaFlags
     34     2  default_prot  u16    Protections granted when no capability says otherwise
     36     2  fotcount      u16    number of FOT entries (indices 1..fotcount)
     38     2  extcount      u16    number of MetaExt records after MetaInfo
     40     8  (padding)

``MetaExt`` (16 bytes, right after MetaInfo): ``tag: u64``, ``value: u64``; tag ``SIZED`` records the size
of the object's data.

``FotEntry`` (32 bytes): ``values: [u64; 2]`` (the id's hi half, then lo), ``resolver: u64``,
``flags: u32`` (FotFlags), 4 bytes of padding.

An *invariant pointer* is a 64-bit value ``fot_idx << 48 | offset``: index 0 points into the object that
holds the pointer; index i > 0 points into the object named by FOT entry i. It stays valid wherever the
object is mapped, which is what makes objects position-independent.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from twzemu.errors import ObjectError
from twzemu.objects.objid import ObjId

# Each of these is defined here and only here: the MMU, the loader and the monitor import them. A slot of an
# address space holds one whole object (``mmu.space.SLOT_SIZE`` is ``MAX_OBJECT_SIZE``); pages are x86's 4 KiB.
MAX_OBJECT_SIZE = 1 << 30
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGES_PER_OBJECT = MAX_OBJECT_SIZE // PAGE_SIZE
NULL_PAGE_SIZE = PAGE_SIZE  # Twizzler's null page: the first page of every object, never mapped
DATA_OFFSET = NULL_PAGE_SIZE
META_OFFSET = MAX_OBJECT_SIZE - PAGE_SIZE
META_PAGE_INDEX = META_OFFSET // PAGE_SIZE

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
U64_MASK = (1 << 64) - 1  # a 64-bit word (and the wrap of a negative value into one)
_U128_MAX = (1 << 128) - 1


class Prot(enum.IntFlag):
    """Access rights to an object's memory (Twizzler's ``Protections``)."""

    READ = 1
    WRITE = 2
    EXEC = 4

    @property
    def letters(self) -> str:
        """``rwx``-style text, e.g. ``r-x``."""
        return "".join(
            letter if self & bit else "-" for letter, bit in (("r", Prot.READ), ("w", Prot.WRITE), ("x", Prot.EXEC))
        )


class MetaFlags(enum.IntFlag):
    """Object flags stored in ``MetaInfo.flags``."""

    IMMUTABLE = 1


class FotFlags(enum.IntFlag):
    """State of a FOT entry. A usable entry is ALLOCATED and ACTIVE and not DELETED."""

    ALLOCATED = 1
    ACTIVE = 2
    DELETED = 4
    RESOLVER = 8


class MetaExtTag(enum.IntEnum):
    """Known tags of ``MetaExt`` records; other tags are kept as plain ints."""

    EMPTY = 0
    SIZED = 1
    MTIME = 2


NULL_ID = ObjId(0)
NO_PROT = Prot(0)
NO_META_FLAGS = MetaFlags(0)


def _check_range(what: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ObjectError(f"{what} {value:#x} is outside 0..{maximum:#x}")


# --- MetaInfo -----------------------------------------------------------------------------------------------

# nonce lo, nonce hi, kuid lo, kuid hi, flags, default_prot, fotcount, extcount, padding to 16-byte alignment.
_META_INFO = struct.Struct("<QQQQHHHH8x")
META_INFO_SIZE = _META_INFO.size


def _split128(value: int) -> tuple[int, int]:
    return value & U64_MASK, value >> 64


@dataclass(frozen=True, slots=True)
class MetaInfo:
    """The metadata every object carries at ``META_OFFSET``; all zeros in a fresh object."""

    nonce: int = 0
    kuid: ObjId = NULL_ID
    flags: MetaFlags = NO_META_FLAGS
    default_prot: Prot = NO_PROT
    fotcount: int = 0
    extcount: int = 0

    def __post_init__(self) -> None:
        _check_range("MetaInfo.nonce", self.nonce, _U128_MAX)
        _check_range("MetaInfo.kuid", self.kuid, _U128_MAX)
        _check_range("MetaInfo.flags", self.flags, _U16_MAX)
        _check_range("MetaInfo.default_prot", self.default_prot, _U16_MAX)
        _check_range("MetaInfo.fotcount", self.fotcount, _U16_MAX)
        _check_range("MetaInfo.extcount", self.extcount, MAX_META_EXTS)

    def pack(self) -> bytes:
        """The ``META_INFO_SIZE`` bytes Twizzler keeps at the start of the meta page."""
        return _META_INFO.pack(
            *_split128(self.nonce),
            *_split128(self.kuid),
            self.flags,
            self.default_prot,
            self.fotcount,
            self.extcount,
        )

    @classmethod
    def unpack(cls, data: bytes) -> MetaInfo:
        """Read a MetaInfo from the first ``META_INFO_SIZE`` bytes of ``data``."""
        if len(data) < META_INFO_SIZE:
            raise ObjectError(f"MetaInfo needs {META_INFO_SIZE} bytes, got {len(data)}")
        nonce_lo, nonce_hi, kuid_lo, kuid_hi, flags, prot, fotcount, extcount = _META_INFO.unpack_from(data)
        return cls(
            nonce=nonce_hi << 64 | nonce_lo,
            kuid=ObjId(kuid_hi << 64 | kuid_lo),
            flags=MetaFlags(flags),
            default_prot=Prot(prot),
            fotcount=fotcount,
            extcount=extcount,
        )


# --- MetaExt ------------------------------------------------------------------------------------------------

_META_EXT = struct.Struct("<QQ")
META_EXT_SIZE = _META_EXT.size
META_EXT_OFFSET = META_OFFSET + META_INFO_SIZE
MAX_META_EXTS = (PAGE_SIZE - META_INFO_SIZE) // META_EXT_SIZE


@dataclass(frozen=True, slots=True)
class MetaExt:
    """One metadata extension record: a tag (``MetaExtTag`` or another u64) and a tag-specific value."""

    tag: int
    value: int

    def __post_init__(self) -> None:
        _check_range("MetaExt.tag", self.tag, U64_MASK)
        _check_range("MetaExt.value", self.value, U64_MASK)

    def pack(self) -> bytes:
        return _META_EXT.pack(self.tag, self.value)

    @classmethod
    def unpack(cls, data: bytes) -> MetaExt:
        if len(data) < META_EXT_SIZE:
            raise ObjectError(f"MetaExt needs {META_EXT_SIZE} bytes, got {len(data)}")
        tag, value = _META_EXT.unpack_from(data)
        return cls(tag=tag, value=value)


def meta_ext_offset(index: int) -> int:
    """Object offset of MetaExt record ``index`` (0-based, right after MetaInfo)."""
    if not 0 <= index < MAX_META_EXTS:
        raise ObjectError(f"meta extension index {index} is outside 0..{MAX_META_EXTS - 1}")
    return META_EXT_OFFSET + index * META_EXT_SIZE


# --- Foreign object table -----------------------------------------------------------------------------------

# id hi, id lo, resolver, flags, padding to 8-byte alignment.
_FOT_ENTRY = struct.Struct("<QQQI4x")
FOT_ENTRY_SIZE = _FOT_ENTRY.size
FOT_INDEX_BITS = 16
# Index 0 is the object itself; the largest index is what an invariant pointer can carry (and fotcount holds).
MAX_FOT_INDEX = (1 << FOT_INDEX_BITS) - 1


@dataclass(frozen=True, slots=True)
class FotEntry:
    """One foreign object table entry: which object an invariant pointer with this index refers to."""

    id: ObjId
    flags: FotFlags = FotFlags.ALLOCATED | FotFlags.ACTIVE
    resolver: int = 0

    def __post_init__(self) -> None:
        _check_range("FotEntry.id", self.id, _U128_MAX)
        _check_range("FotEntry.flags", self.flags, _U32_MAX)
        _check_range("FotEntry.resolver", self.resolver, U64_MASK)

    @property
    def is_live(self) -> bool:
        """Whether the entry may be resolved (Twizzler: ALLOCATED and ACTIVE, not DELETED)."""
        return bool(self.flags & FotFlags.ALLOCATED and self.flags & FotFlags.ACTIVE) and not (
            self.flags & FotFlags.DELETED
        )

    def pack(self) -> bytes:
        return _FOT_ENTRY.pack(self.id >> 64, self.id & U64_MASK, self.resolver, self.flags)

    @classmethod
    def unpack(cls, data: bytes) -> FotEntry:
        if len(data) < FOT_ENTRY_SIZE:
            raise ObjectError(f"FotEntry needs {FOT_ENTRY_SIZE} bytes, got {len(data)}")
        hi, lo, resolver, flags = _FOT_ENTRY.unpack_from(data)
        return cls(id=ObjId(hi << 64 | lo), flags=FotFlags(flags), resolver=resolver)


def fot_entry_offset(index: int) -> int:
    """Object offset of FOT entry ``index``: ``META_OFFSET - (index + 1) * FOT_ENTRY_SIZE``.

    Index 0 has no entry: in an invariant pointer it means the object holding the pointer (Twizzler's
    runtime rejects resolving it too), so the slot just below the meta page stays unused.
    """
    if not 1 <= index <= MAX_FOT_INDEX:
        raise ObjectError(f"FOT index {index} is outside 1..{MAX_FOT_INDEX}")
    return META_OFFSET - (index + 1) * FOT_ENTRY_SIZE


# --- Invariant pointers -------------------------------------------------------------------------------------

INVPTR_OFFSET_BITS = 48
_INVPTR_OFFSET_MASK = (1 << INVPTR_OFFSET_BITS) - 1


@dataclass(frozen=True, slots=True)
class InvPtr:
    """An invariant pointer: ``fot_idx << 48 | offset``; ``fot_idx`` 0 means 'this object'."""

    fot_idx: int
    offset: int

    def __post_init__(self) -> None:
        _check_range("invariant pointer FOT index", self.fot_idx, MAX_FOT_INDEX)
        _check_range("invariant pointer offset", self.offset, _INVPTR_OFFSET_MASK)

    @property
    def raw(self) -> int:
        """The 64-bit encoding."""
        return self.fot_idx << INVPTR_OFFSET_BITS | self.offset

    @property
    def is_local(self) -> bool:
        """Whether the pointer refers into the object that holds it."""
        return self.fot_idx == 0

    @classmethod
    def encode(cls, fot_idx: int, offset: int) -> int:
        """The 64-bit value of a pointer to ``offset`` in the object named by FOT entry ``fot_idx``."""
        return cls(fot_idx, offset).raw

    @classmethod
    def decode(cls, raw: int) -> InvPtr:
        """Split a 64-bit invariant pointer into its FOT index and offset."""
        _check_range("invariant pointer", raw, U64_MASK)
        return cls(raw >> INVPTR_OFFSET_BITS, raw & _INVPTR_OFFSET_MASK)
