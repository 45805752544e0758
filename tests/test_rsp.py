"""gdb's remote serial protocol framing (twzemu.debug.rsp): the manual's rules as properties, without gdb."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twzemu.debug import rsp


def test_checksum_is_the_manual_example() -> None:
    # gdb manual, "Overview": "$qSupported#37" is what gdb sends first.
    assert rsp.frame(b"qSupported") == b"$qSupported#37"
    assert rsp.frame(b"OK") == b"$OK#9a"


def test_escaped_bytes_are_the_four_special_ones() -> None:
    assert rsp.escape(b"a#b$c}d*e") == b"a}\x03b}\x04c}]d}\x0ae"


@given(st.binary())
def test_escape_round_trips(data: bytes) -> None:
    escaped = rsp.escape(data)
    assert not set(escaped) & set(b"#$*") and rsp.unescape(escaped) == data


@given(st.binary(), st.integers(1, 7))
def test_reader_returns_framed_packets_in_any_split(data: bytes, pieces: int) -> None:
    wire = b"+" + rsp.frame(data) + b"-" + bytes([rsp.INTERRUPT_BYTE])
    reader = rsp.PacketReader()
    step = max(1, len(wire) // pieces)
    events = [event for start in range(0, len(wire), step) for event in reader.feed(wire[start : start + step])]
    assert events == [rsp.Ack(), rsp.Packet(data), rsp.Nak(), rsp.Interrupt()]


def test_bad_checksum_is_reported_for_a_resend() -> None:
    assert list(rsp.PacketReader().feed(b"$OK#00")) == [rsp.BadPacket(b"OK")]
    assert list(rsp.PacketReader().feed(b"$OK#zz")) == [rsp.BadPacket(b"OK")]


def test_run_length_decoding() -> None:
    # "0* " means '0' repeated 3 more times (' ' is 32, 32 - 29 = 3).
    assert rsp.unescape(b"0* ") == b"0000"
    with pytest.raises(rsp.ProtocolError):
        rsp.unescape(b"*")


def test_unknown_command_names_itself() -> None:
    with pytest.raises(rsp.ProtocolError, match="'@'"):
        rsp.command_of(b"@foo")
    assert rsp.Packet(b"m1000,4").command is rsp.Command.READ_MEMORY


def test_memory_packets() -> None:
    assert rsp.parse_memory(b"40001000,8", with_data=False) == rsp.MemoryRange(0x40001000, 8)
    assert rsp.parse_memory(b"10,2:abcd", with_data=True) == rsp.MemoryRange(0x10, 2, b"\xab\xcd")
    with pytest.raises(rsp.ProtocolError):
        rsp.parse_memory(b"10,3:abcd", with_data=True)
    with pytest.raises(rsp.ProtocolError):
        rsp.parse_memory(b"10", with_data=False)


def test_breakpoint_packets() -> None:
    assert rsp.parse_point(b"0,401000,1") == rsp.Point(rsp.PointKind.SOFTWARE, 0x401000, 1)
    assert rsp.parse_point(b"2,7000,8;X1,0").kind is rsp.PointKind.WRITE_WATCH
    with pytest.raises(rsp.ProtocolError):
        rsp.parse_point(b"9,0,1")


def test_xfer_packets() -> None:
    assert rsp.parse_xfer(b"Xfer:features:read:target.xml:0,ffb") == ("features", "read", "target.xml", 0, 0xFFB)
    assert rsp.xfer_slice(b"abcdef", 0, 4) == b"mabcd"
    assert rsp.xfer_slice(b"abcdef", 4, 4) == b"lef"


@given(st.integers(0, 2**64 - 1))
def test_register_hex_is_little_endian(value: int) -> None:
    text = rsp.encode_le(value, 8)
    assert len(text) == 16 and rsp.decode_le(text) == value


def test_replies() -> None:
    assert rsp.stop_reply(rsp.Signal.SIGTRAP) == b"S05"
    assert rsp.stop_reply(rsp.Signal.SIGTRAP, None, 0x12) == b"T05thread:12;"
    assert rsp.stop_reply(rsp.Signal.SIGTRAP, ("watch", 0x10), 2) == b"T05thread:2;watch:10;"
    assert rsp.exit_reply(256 + 3) == b"W03"
    assert rsp.error_reply(14) == b"E0e"
