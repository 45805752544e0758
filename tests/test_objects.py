"""Object ids, the object layout (MetaInfo, FOT, invariant pointers) and the sparse Object, pure Python."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twzemu.errors import ObjectError
from twzemu.objects import (
    DATA_OFFSET,
    FOT_ENTRY_SIZE,
    MAX_OBJECT_SIZE,
    META_OFFSET,
    NULL_PAGE_SIZE,
    PAGE_SIZE,
    FotEntry,
    FotFlags,
    InvPtr,
    Lifetime,
    MetaExtTag,
    MetaFlags,
    MetaInfo,
    Object,
    ObjId,
    Prot,
    fot_entry_offset,
)
from twzemu.objects.layout import META_INFO_SIZE, MetaExt

U16 = st.integers(0, 0xFFFF)
U128 = st.integers(0, (1 << 128) - 1)
IDS = U128.map(ObjId)

# --- ObjId --------------------------------------------------------------------------------------------------


@given(IDS)
def test_objid_str_is_0x_and_32_hex_digits_and_parses_back(id: ObjId) -> None:
    text = str(id)
    assert re.fullmatch(r"0x[0-9a-f]{32}", text)
    assert ObjId.parse(text) == id
    assert ObjId.parse(text.upper().replace("0X", "0x")) == id


@given(IDS)
def test_objid_parses_twizzlers_display_form(id: ObjId) -> None:
    # Twizzler prints `ObjID({:x})`: unpadded lowercase hex.
    assert ObjId.parse(f"ObjID({int(id):x})") == id


@given(IDS)
def test_objid_hi_lo_split_round_trips(id: ObjId) -> None:
    assert id.hi < 1 << 64 and id.lo < 1 << 64
    assert id.hi << 64 | id.lo == id.value
    assert ObjId.from_parts(id.hi, id.lo) == id
    assert ObjId.from_bytes_le(id.to_bytes_le()) == id


def test_objid_short_hex_form() -> None:
    assert ObjId.parse("0x1f") == 0x1F
    assert str(ObjId.parse("0x1f")) == "0x" + "0" * 30 + "1f"


@pytest.mark.parametrize(
    "text",
    ["", "0x", "1f", "-0x1", "0x1_0", "0x 1", "0xg", "0x" + "1" * 33, "ObjID()", "ObjID(0x1)", "0x1:2"],
)
def test_objid_bad_text_is_an_error_naming_the_text(text: str) -> None:
    with pytest.raises(ObjectError, match=re.escape(repr(text))):
        ObjId.parse(text)


@pytest.mark.parametrize("value", [-1, 1 << 128])
def test_objid_out_of_range_is_an_error(value: int) -> None:
    with pytest.raises(ObjectError):
        ObjId(value)


def test_objid_random_is_fresh_and_nonzero() -> None:
    ids = {ObjId.random() for _ in range(100)}
    assert len(ids) == 100 and 0 not in ids


def test_objid_is_a_value() -> None:
    assert ObjId(5) == ObjId(5) and hash(ObjId(5)) == hash(5)
    assert {ObjId(5): "x"}[ObjId.parse("0x5")] == "x"
    assert repr(ObjId(5)) == "ObjId(0x00000000000000000000000000000005)"
    with pytest.raises(AttributeError):
        ObjId(5).extra = 1  # type: ignore[attr-defined]


# --- layout -------------------------------------------------------------------------------------------------


def test_layout_constants_follow_twizzler() -> None:
    assert MAX_OBJECT_SIZE == 1 << 30
    assert PAGE_SIZE == 4096
    assert NULL_PAGE_SIZE == DATA_OFFSET == 0x1000
    assert META_OFFSET == MAX_OBJECT_SIZE - PAGE_SIZE
    assert META_INFO_SIZE == 48  # repr(C): u128, u128, 4 x u16, padded to 16-byte alignment
    assert FOT_ENTRY_SIZE == 32  # repr(C): [u64; 2], u64, u32, padded to 8-byte alignment


META_INFOS = st.builds(
    MetaInfo,
    nonce=U128,
    kuid=IDS,
    flags=U16.map(MetaFlags),
    default_prot=st.integers(0, 7).map(Prot),
    fotcount=U16,
    extcount=st.integers(0, 16),
)


@given(META_INFOS)
def test_metainfo_pack_unpack_round_trips(info: MetaInfo) -> None:
    packed = info.pack()
    assert len(packed) == META_INFO_SIZE
    assert MetaInfo.unpack(packed) == info


def test_metainfo_field_offsets() -> None:
    packed = MetaInfo(
        nonce=1, kuid=ObjId(2), flags=MetaFlags.IMMUTABLE, default_prot=Prot.READ, fotcount=5, extcount=6
    ).pack()
    assert packed[0:16] == (1).to_bytes(16, "little")
    assert packed[16:32] == (2).to_bytes(16, "little")
    assert packed[32:40] == bytes([1, 0, 1, 0, 5, 0, 6, 0])
    assert packed[40:] == bytes(8)


@pytest.mark.parametrize(
    "field, value",
    [("fotcount", 1 << 16), ("nonce", 1 << 128), ("flags", MetaFlags(1 << 16)), ("fotcount", -1)],
)
def test_metainfo_out_of_range_field_is_an_error(field: str, value: int) -> None:
    with pytest.raises(ObjectError, match=field):
        MetaInfo(**{field: value})


@given(IDS, st.integers(0, 15).map(FotFlags), st.integers(0, (1 << 64) - 1))
def test_fot_entry_pack_unpack_round_trips(id: ObjId, flags: FotFlags, resolver: int) -> None:
    entry = FotEntry(id, flags, resolver)
    packed = entry.pack()
    assert len(packed) == FOT_ENTRY_SIZE
    assert packed[0:8] == id.hi.to_bytes(8, "little")  # values[0] is the hi half, as ObjID::parts
    assert FotEntry.unpack(packed) == entry


def test_fot_entries_grow_down_from_the_meta_page() -> None:
    assert fot_entry_offset(1) == META_OFFSET - 2 * FOT_ENTRY_SIZE
    assert fot_entry_offset(2) == META_OFFSET - 3 * FOT_ENTRY_SIZE
    assert fot_entry_offset(0xFFFF) == META_OFFSET - 0x10000 * FOT_ENTRY_SIZE
    for index in (0, 1 << 16, -1):
        with pytest.raises(ObjectError, match=str(index)):
            fot_entry_offset(index)


@given(st.integers(0, 0xFFFF), st.integers(0, (1 << 48) - 1))
def test_invariant_pointer_round_trips(fot_idx: int, offset: int) -> None:
    raw = InvPtr.encode(fot_idx, offset)
    assert raw == fot_idx << 48 | offset and raw < 1 << 64
    assert InvPtr.decode(raw) == InvPtr(fot_idx, offset)
    assert InvPtr.decode(raw).is_local == (fot_idx == 0)


@pytest.mark.parametrize("fot_idx, offset", [(1 << 16, 0), (-1, 0), (0, 1 << 48), (0, -1)])
def test_invariant_pointer_rejects_out_of_range_parts(fot_idx: int, offset: int) -> None:
    with pytest.raises(ObjectError):
        InvPtr.encode(fot_idx, offset)


@pytest.mark.parametrize("raw", [-1, 1 << 64])
def test_invariant_pointer_rejects_out_of_range_raw(raw: int) -> None:
    with pytest.raises(ObjectError):
        InvPtr.decode(raw)


def test_prot_letters() -> None:
    assert (Prot.READ | Prot.EXEC).letters == "r-x"
    assert Prot(0).letters == "---"


# --- Object -------------------------------------------------------------------------------------------------

# Offsets cluster around page boundaries and the ends of the object, where the bugs would be.
_BOUNDARY_OFFSETS = st.builds(
    lambda page, delta: min(max(page * PAGE_SIZE + delta, 0), MAX_OBJECT_SIZE - 1),
    st.sampled_from([0, 1, 2, 3, 100, MAX_OBJECT_SIZE // PAGE_SIZE - 2, MAX_OBJECT_SIZE // PAGE_SIZE]),
    st.integers(-40, 40),
)
OFFSETS = st.one_of(_BOUNDARY_OFFSETS, st.integers(0, MAX_OBJECT_SIZE - 1))
WRITES = st.lists(
    st.tuples(OFFSETS, st.binary(max_size=3 * PAGE_SIZE)).map(lambda w: (w[0], w[1][: MAX_OBJECT_SIZE - w[0]])),
    max_size=8,
)


@given(WRITES, st.lists(st.tuples(OFFSETS, st.integers(0, 2 * PAGE_SIZE)), max_size=8))
def test_object_reads_back_what_was_written(writes: list[tuple[int, bytes]], reads: list[tuple[int, int]]):
    obj = Object(ObjId(1))
    model: dict[int, int] = {}  # offset -> byte; absent means zero
    for offset, data in writes:
        obj.write(offset, data)
        model.update(zip(range(offset, offset + len(data)), data, strict=True))
    spans = [(offset, len(data)) for offset, data in writes]
    spans += [(offset, min(length, MAX_OBJECT_SIZE - offset)) for offset, length in reads]
    for offset, length in spans:
        assert obj.read(offset, length) == bytes(model.get(i, 0) for i in range(offset, offset + length))
    pages = dict(obj.iter_pages())
    assert all(any(content) for content in pages.values())
    assert set(pages) == {i // PAGE_SIZE for i, byte in model.items() if byte}


@pytest.mark.parametrize("offset, length", [(-1, 1), (MAX_OBJECT_SIZE, 1), (MAX_OBJECT_SIZE - 1, 2)])
def test_object_access_outside_1gib_is_an_error(offset: int, length: int) -> None:
    obj = Object(ObjId(7))
    with pytest.raises(ObjectError, match=str(ObjId(7))):
        obj.read(offset, length)
    with pytest.raises(ObjectError, match=str(ObjId(7))):
        obj.write(offset, b"x" * length)
    with pytest.raises(ObjectError, match=str(ObjId(7))):
        obj.read(0, MAX_OBJECT_SIZE + 1)


def test_object_zero_writes_allocate_no_pages() -> None:
    obj = Object(ObjId(1))
    obj.write(DATA_OFFSET, bytes(10 * PAGE_SIZE))
    assert list(obj.iter_pages()) == []
    obj.write(DATA_OFFSET, b"\x01")
    obj.write(DATA_OFFSET, b"\x00")
    assert list(obj.iter_pages()) == []


def test_object_copies_an_elf_sized_image() -> None:
    image = bytes(range(256)) * 400  # ~100 KB, like a small library
    obj = Object(ObjId(1), Lifetime.PERSISTENT)
    obj.write(DATA_OFFSET, image)
    assert obj.read(DATA_OFFSET, len(image)) == image
    assert [index for index, _ in obj.iter_pages()] == list(range(1, 1 + -(-len(image) // PAGE_SIZE)))


def test_object_meta_lives_in_the_last_page() -> None:
    obj = Object(ObjId(1))
    assert obj.meta == MetaInfo()
    info = MetaInfo(nonce=9, kuid=ObjId(3), default_prot=Prot.READ | Prot.WRITE, fotcount=0)
    obj.meta = info
    assert obj.meta == info
    assert obj.read(META_OFFSET, META_INFO_SIZE) == info.pack()
    assert [index for index, _ in obj.iter_pages()] == [MAX_OBJECT_SIZE // PAGE_SIZE - 1]


def test_object_fot_entries_are_placed_below_meta_and_counted() -> None:
    obj = Object(ObjId(1))
    first = obj.add_fot_entry(ObjId(0xA))
    second = obj.add_fot_entry(ObjId(0xB))
    assert (first, second) == (1, 2)
    assert obj.add_fot_entry(ObjId(0xA)) == 1  # a live entry for the same object is reused
    assert obj.meta.fotcount == 2
    raw = obj.read(META_OFFSET - 3 * FOT_ENTRY_SIZE, FOT_ENTRY_SIZE)
    assert FotEntry.unpack(raw) == FotEntry(ObjId(0xB), FotFlags.ALLOCATED | FotFlags.ACTIVE)
    assert obj.fot_entry(1).id == ObjId(0xA) and obj.fot_entry(1).is_live
    assert [entry.id for entry in obj.fot_entries()] == [ObjId(0xA), ObjId(0xB)]
    with pytest.raises(ObjectError, match="FOT index 3"):
        obj.fot_entry(3)


def test_object_meta_extensions_and_data_size() -> None:
    obj = Object(ObjId(1))
    assert obj.data_size == 0
    obj.write(DATA_OFFSET, b"abc")
    assert obj.data_size == PAGE_SIZE  # no SIZED extension: the extent of the data pages
    obj.set_meta_ext(MetaExtTag.SIZED, 3)
    obj.set_meta_ext(MetaExtTag.MTIME, 1234)
    obj.set_meta_ext(MetaExtTag.SIZED, 4)
    assert obj.data_size == 4
    assert obj.meta.extcount == 2
    assert obj.meta_exts() == [MetaExt(MetaExtTag.SIZED, 4), MetaExt(MetaExtTag.MTIME, 1234)]
    assert obj.meta_ext(99) is None


def test_a_sized_object_covers_data_written_past_its_size() -> None:
    """What a guest wrote past a ``SIZED`` object's size counts in it after the run (up to the last non-zero byte);
    data within the size, or an object without the extension, leave it as it was."""
    obj = Object(ObjId(1))
    obj.cover_written_data()
    assert obj.meta_ext(MetaExtTag.SIZED) is None
    obj.set_meta_ext(MetaExtTag.SIZED, 10)
    obj.write(DATA_OFFSET, b"abc")
    obj.cover_written_data()
    assert obj.data_size == 10
    obj.write(DATA_OFFSET + 3 * PAGE_SIZE + 6, b"xy\0")
    obj.cover_written_data()
    assert obj.data_size == 3 * PAGE_SIZE + 8
    obj.add_fot_entry(ObjId(2))  # the FOT is not data
    obj.cover_written_data()
    assert obj.data_size == 3 * PAGE_SIZE + 8
    obj.write(META_OFFSET, b"\xff" * META_INFO_SIZE)  # meta data a guest wrote over: left alone
    obj.cover_written_data()
    assert obj.read(META_OFFSET, META_INFO_SIZE) == b"\xff" * META_INFO_SIZE


@given(st.binary(min_size=META_INFO_SIZE, max_size=PAGE_SIZE), st.integers(0, 8 * PAGE_SIZE))
def test_meta_data_a_guest_wrote_never_breaks_the_size_update(meta: bytes, written: int) -> None:
    """Whatever a guest wrote over an object's meta page (it is the guest's to write), the end of the run's size
    update neither raises nor shrinks a size it could read."""
    obj = Object(ObjId(1))
    obj.set_meta_ext(MetaExtTag.SIZED, 1)
    obj.write(META_OFFSET, meta)
    obj.write(DATA_OFFSET + written, b"z")
    try:
        before = obj.meta_ext(MetaExtTag.SIZED)
    except ObjectError:
        before = None
    obj.cover_written_data()
    if before is not None:
        assert obj.meta_ext(MetaExtTag.SIZED) >= before


def test_object_equality_is_by_id_lifetime_and_content() -> None:
    a, b = Object(ObjId(1)), Object(ObjId(1))
    a.write(DATA_OFFSET, b"x")
    assert a != b
    b.write(DATA_OFFSET, b"x")
    assert a == b
    assert a != Object(ObjId(1), Lifetime.PERSISTENT)
