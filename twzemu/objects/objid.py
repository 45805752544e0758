"""128-bit object ids.

Every Twizzler object is named by a 128-bit id. Twizzler splits it into two 64-bit halves when an id crosses a
register boundary (``ObjID::parts`` returns ``[hi, lo]``); we keep the same split as ``.hi`` / ``.lo``.

Text form: twzemu prints an id as ``0x`` followed by exactly 32 lowercase hex digits (hi half first), so ids
line up in listings and are never confused with names. ``ObjId.parse`` accepts that form, a shorter ``0x``
form (``0x1f``), and Twizzler's own ``Display`` form ``ObjID(1f…)`` (lowercase hex without padding), so an
id copied out of a Twizzler log can be pasted into twzemu.

``ObjId`` is an ``int`` subclass: it hashes, compares and indexes dictionaries at ``int`` speed, and an
``ObjId`` is immutable like any ``int``. Arithmetic on it yields a plain ``int``, which is what we want: the
sum of two ids is not an id.
"""

from __future__ import annotations

import re
import secrets

from twzemu.errors import ObjectError

ID_BITS = 128
ID_HEX_DIGITS = ID_BITS // 4
_HALF_BITS = 64
_HALF_MASK = (1 << _HALF_BITS) - 1

# Hex digits only: ``int(text, 16)`` would also accept signs, spaces and underscores.
_ZERO_X = re.compile(r"0[xX]([0-9a-fA-F]{1,32})")
_TWIZZLER_DISPLAY = re.compile(r"ObjID\(([0-9a-fA-F]{1,32})\)")


class ObjId(int):
    """A 128-bit Twizzler object id."""

    __slots__ = ()

    def __new__(cls, value: int) -> ObjId:
        if value < 0 or value >> ID_BITS:
            raise ObjectError(f"object id {value:#x} is outside 0..2**128-1")
        return super().__new__(cls, value)

    @classmethod
    def parse(cls, text: str) -> ObjId:
        """Read ``0x`` + up to 32 hex digits, or Twizzler's ``ObjID(hex)``; anything else is an error."""
        stripped = text.strip()
        match = _ZERO_X.fullmatch(stripped) or _TWIZZLER_DISPLAY.fullmatch(stripped)
        if match is None:
            raise ObjectError(f"bad object id {text!r}: expected 0x followed by 1 to 32 hex digits")
        return cls(int(match.group(1), 16))

    @classmethod
    def from_parts(cls, hi: int, lo: int) -> ObjId:
        """Join two 64-bit halves, hi first, as Twizzler's ``ObjID::from_parts`` does."""
        if not (0 <= hi <= _HALF_MASK and 0 <= lo <= _HALF_MASK):
            raise ObjectError(f"object id halves {hi:#x}:{lo:#x} do not fit in 64 bits each")
        return cls(hi << _HALF_BITS | lo)

    @classmethod
    def random(cls) -> ObjId:
        """A fresh id from the OS's cryptographic random source; never 0, which means 'no object'."""
        while True:
            value = secrets.randbits(ID_BITS)
            if value:
                return cls(value)

    @property
    def value(self) -> int:
        """The id as a plain ``int``."""
        return int(self)

    @property
    def hi(self) -> int:
        """The upper 64 bits."""
        return int(self) >> _HALF_BITS

    @property
    def lo(self) -> int:
        """The lower 64 bits."""
        return int(self) & _HALF_MASK

    def to_bytes_le(self) -> bytes:
        """The id as 16 little-endian bytes: how a ``u128`` sits in Twizzler's in-object records."""
        return int(self).to_bytes(16, "little")

    @classmethod
    def from_bytes_le(cls, data: bytes) -> ObjId:
        """Inverse of ``to_bytes_le``."""
        if len(data) != 16:
            raise ObjectError(f"object id needs 16 bytes, got {len(data)}")
        return cls(int.from_bytes(data, "little"))

    def __str__(self) -> str:
        return f"0x{int(self):0{ID_HEX_DIGITS}x}"

    def __repr__(self) -> str:
        return f"ObjId({self})"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else format(int(self), spec)
