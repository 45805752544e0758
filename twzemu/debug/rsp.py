"""gdb's remote serial protocol as pure functions: framing, checksums, escaping, hex, and the packet table.

Data flow (gdb manual, "Overview" of the remote protocol): bytes from the socket go into a ``PacketReader``,
which yields ``Ack``/``Nak``/``Interrupt`` events and whole packets whose checksum it has verified; the stub looks
the packet's command byte up in a table keyed by ``Command`` (``command_of``), its handler returns a reply payload,
and ``frame`` turns that payload into ``$payload#cs`` bytes for the socket. Nothing here does I/O, so every rule is
tested without gdb.

Rules quoted from the manual:
- "The checksum is computed as the modulo 256 sum of all characters in packet-data": two lower-case hex digits.
- "The binary data representation uses 7d (ASCII '}') as an escape character. Any escaped byte is transmitted as
  the escape character followed by the original character XORed with 0x20"; '#', '$', '}' and '*' are escaped.
- Run-length encoding ("*" followed by a count character) may appear in packets from the stub; we never send it,
  but ``unescape`` decodes it for completeness (the count is the character minus 29).
- After ``QStartNoAckMode`` is acknowledged, neither side sends '+' or '-'.
- A lone 0x03 byte outside a packet is an interrupt request (Ctrl-C).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from twzemu.errors import TwzEmuError

ESCAPE = 0x7D
ESCAPE_XOR = 0x20
RLE = 0x2A
RLE_BIAS = 29
INTERRUPT_BYTE = 0x03
NEEDS_ESCAPE = frozenset(b"#$}*")


class ProtocolError(TwzEmuError):
    """A packet from gdb that breaks the remote protocol's framing or an argument the stub cannot parse."""

    exit_status = 1


class Command(enum.IntEnum):
    """The command byte of a packet: the table key of the stub (gdb manual, "Packets")."""

    BANG = ord("!")  # extended mode
    HALT_REASON = ord("?")
    CONTINUE = ord("c")
    CONTINUE_SIGNAL = ord("C")
    DETACH = ord("D")
    READ_REGISTERS = ord("g")
    WRITE_REGISTERS = ord("G")
    SET_THREAD = ord("H")
    KILL = ord("k")
    READ_MEMORY = ord("m")
    WRITE_MEMORY = ord("M")
    READ_REGISTER = ord("p")
    WRITE_REGISTER = ord("P")
    QUERY = ord("q")
    SET = ord("Q")
    STEP = ord("s")
    STEP_SIGNAL = ord("S")
    THREAD_ALIVE = ord("T")
    VERBOSE = ord("v")
    WRITE_BINARY = ord("X")
    REMOVE_POINT = ord("z")
    INSERT_POINT = ord("Z")


class PointKind(enum.IntEnum):
    """The first argument of ``Z``/``z`` packets (gdb manual, "insert breakpoint or watchpoint packet")."""

    SOFTWARE = 0
    HARDWARE = 1
    WRITE_WATCH = 2
    READ_WATCH = 3
    ACCESS_WATCH = 4


class Signal(enum.IntEnum):
    """gdb's target signal numbers, which stop replies carry (``S05``); equal to Linux's for these."""

    SIGINT = 2
    SIGILL = 4
    SIGTRAP = 5
    SIGFPE = 8
    SIGKILL = 9
    SIGSEGV = 11


@dataclass(frozen=True, slots=True)
class Ack:
    """'+' from the peer: the last packet arrived intact."""


@dataclass(frozen=True, slots=True)
class Nak:
    """'-' from the peer: resend the last packet."""


@dataclass(frozen=True, slots=True)
class Interrupt:
    """0x03 outside a packet: gdb asks the running target to stop (Ctrl-C)."""


@dataclass(frozen=True, slots=True)
class Packet:
    """A whole packet whose checksum matched; ``data`` is unescaped and run-length expanded."""

    data: bytes

    @property
    def command(self) -> Command:
        return command_of(self.data)

    @property
    def args(self) -> bytes:
        return self.data[1:]


@dataclass(frozen=True, slots=True)
class BadPacket:
    """A packet whose checksum did not match: answer '-' so gdb resends it."""

    data: bytes


Event = Ack | Nak | Interrupt | Packet | BadPacket


def checksum(data: bytes) -> int:
    """The modulo 256 sum of the packet's bytes as transmitted (escaped)."""
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Escape '#', '$', '}' and '*' as '}' followed by the byte XOR 0x20."""
    out = bytearray()
    for byte in data:
        if byte in NEEDS_ESCAPE:
            out += bytes((ESCAPE, byte ^ ESCAPE_XOR))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo ``escape`` and run-length encoding in one pass over the bytes as transmitted.

    ``X*n`` repeats X (the already unescaped byte) a further ``ord(n) - 29`` times; a '*' can never be the second
    byte of an escape pair, so one left-to-right pass decodes both. A trailing lone '}' or a '*' without a byte
    before it or a count after it is a framing error.
    """
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == ESCAPE:
            if index + 1 >= len(data):
                raise ProtocolError("gdb packet ends with a lone escape byte '}'")
            out.append(data[index + 1] ^ ESCAPE_XOR)
            index += 2
        elif byte == RLE:
            if not out or index + 1 >= len(data):
                raise ProtocolError("gdb packet has a run-length marker '*' without a byte to repeat or a count")
            out += bytes((out[-1],)) * (data[index + 1] - RLE_BIAS)
            index += 2
        else:
            out.append(byte)
            index += 1
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """``$escaped#cs``: one packet ready for the socket."""
    body = escape(payload)
    return b"$" + body + b"#" + b"%02x" % checksum(body)


def command_of(data: bytes) -> Command:
    """The command of a packet's data; an unknown one raises ``ProtocolError`` naming it."""
    if not data:
        raise ProtocolError("empty gdb packet")
    try:
        return Command(data[0])
    except ValueError:
        raise ProtocolError(f"unknown gdb packet command {chr(data[0])!r} in {data[:32]!r}") from None


class PacketReader:
    """Splits the byte stream from gdb into events; keeps a partial packet across ``feed`` calls."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Event]:
        self._buffer += data
        while self._buffer:
            first = self._buffer[0]
            if first == ord("$"):
                event = self._take_packet()
                if event is None:
                    return
                yield event
                continue
            del self._buffer[0]
            if first == ord("+"):
                yield Ack()
            elif first == ord("-"):
                yield Nak()
            elif first == INTERRUPT_BYTE:
                yield Interrupt()
            # Anything else between packets is line noise; the manual lets the receiver drop it.

    def _take_packet(self) -> Packet | BadPacket | None:
        end = self._buffer.find(b"#")
        if end < 0 or len(self._buffer) < end + 3:
            return None
        body = bytes(self._buffer[1:end])
        sent = bytes(self._buffer[end + 1 : end + 3])
        del self._buffer[: end + 3]
        try:
            good = int(sent, 16) == checksum(body)
        except ValueError:
            good = False
        if not good:
            return BadPacket(body)
        return Packet(unescape(body))


# Hex encodings used by register and memory packets.


def to_hex(data: bytes) -> bytes:
    return data.hex().encode()


def from_hex(text: bytes) -> bytes:
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"gdb sent bad hex {text[:32]!r}") from None


def parse_int(text: bytes) -> int:
    """A hex number as packets write addresses and lengths."""
    try:
        return int(text, 16)
    except ValueError:
        raise ProtocolError(f"gdb sent a bad hex number {text[:32]!r}") from None


def encode_le(value: int, size: int) -> bytes:
    """A register value as target-order (little-endian) hex of ``size`` bytes."""
    return to_hex((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))


def decode_le(text: bytes) -> int:
    return int.from_bytes(from_hex(text), "little")


@dataclass(frozen=True, slots=True)
class MemoryRange:
    """``m addr,length`` / ``M addr,length:data``'s address and length (and data for writes)."""

    address: int
    length: int
    data: bytes = b""


def parse_memory(args: bytes, *, with_data: bool) -> MemoryRange:
    head, sep, payload = args.partition(b":")
    if with_data and not sep:
        raise ProtocolError(f"gdb memory write without ':' in {args[:32]!r}")
    address, comma, length = head.partition(b",")
    if not comma:
        raise ProtocolError(f"gdb memory packet without ',' in {args[:32]!r}")
    data = from_hex(payload) if with_data else b""
    parsed = MemoryRange(parse_int(address), parse_int(length), data)
    if with_data and len(data) != parsed.length:
        raise ProtocolError(f"gdb memory write of {parsed.length} bytes carries {len(data)}")
    return parsed


@dataclass(frozen=True, slots=True)
class Point:
    """``Z``/``z`` arguments: ``type,addr,kind`` (kind is the breakpoint length or watch size)."""

    kind: PointKind
    address: int
    size: int


def parse_point(args: bytes) -> Point:
    fields = args.split(b";", 1)[0].split(b",")
    if len(fields) != 3:
        raise ProtocolError(f"gdb breakpoint packet needs type,addr,kind: {args[:32]!r}")
    try:
        kind = PointKind(parse_int(fields[0]))
    except ValueError:
        raise ProtocolError(f"gdb breakpoint type {fields[0]!r} is unknown") from None
    return Point(kind, parse_int(fields[1]), parse_int(fields[2]))


def parse_xfer(args: bytes) -> tuple[str, str, str, int, int]:
    """``qXfer:object:read:annex:offset,length`` (after the leading 'q'): object, op, annex, offset, length."""
    parts = args.decode("ascii", "replace").split(":")
    if len(parts) != 5 or parts[0] != "Xfer":
        raise ProtocolError(f"gdb qXfer packet is malformed: {args[:48]!r}")
    offset, comma, length = parts[4].partition(",")
    if not comma:
        raise ProtocolError(f"gdb qXfer packet lacks offset,length: {args[:48]!r}")
    return parts[1], parts[2], parts[3], parse_int(offset.encode()), parse_int(length.encode())


def xfer_slice(document: bytes, offset: int, length: int) -> bytes:
    """One chunk of an qXfer object: 'm' if more follows, 'l' if this is the last."""
    chunk = document[offset : offset + length]
    more = offset + length < len(document)
    return (b"m" if more else b"l") + chunk  # ``frame`` escapes it


def stop_reply(
    signal: Signal, watch: tuple[str, int] | None = None, thread: int | None = None, library: bool = False
) -> bytes:
    """``S05``; with the thread that stopped ``T05thread:ID;``, a watchpoint hit (``watch``/``rwatch``/``awatch``,
    data address) ``T05watch:ADDR;``, and ``library:;`` when the libraries changed (any of them together)."""
    if watch is None and thread is None and not library:
        return b"S%02x" % signal
    fields = b"" if thread is None else b"thread:%x;" % thread
    if library:
        fields += b"library:;"
    if watch is not None:
        fields += b"%s:%x;" % (watch[0].encode(), watch[1])
    return b"T%02x%s" % (signal, fields)


def console_output(text: str) -> bytes:
    """An ``O`` packet: ``text`` on gdb's console (while gdb waits for a stop reply, or answering ``qRcmd``)."""
    return b"O" + to_hex(text.encode())


def exit_reply(status: int) -> bytes:
    return b"W%02x" % (status & 0xFF)


def kill_reply(signal: Signal) -> bytes:
    return b"X%02x" % signal


def error_reply(number: int) -> bytes:
    return b"E%02x" % (number & 0xFF)


OK = b"OK"
UNSUPPORTED = b""
