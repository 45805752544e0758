"""The startup block and the TLS area decode back to what the runtime reads (twzemu/sdk/include/twz_startup.h)."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given
from hypothesis import strategies as st

from twzemu.abi import TCB_SIZE
from twzemu.elf.dynamic import TlsTemplate
from twzemu.linker.tls import layout_static_tls
from twzemu.monitor.startup import build_startup, build_thread_area

TOP = 0x100_0010_1000
texts = st.lists(st.binary(max_size=40).filter(lambda b: b"\0" not in b), max_size=12)
addresses = st.lists(st.integers(0, 2**64 - 1), max_size=12)


def read_u64(image, address: int) -> int:
    return struct.unpack_from("<Q", image.data, address - image.base)[0]


def read_string(image, address: int) -> bytes:
    start = address - image.base
    return image.data[start : image.data.index(b"\0", start)]


@given(argv=texts, envp=texts, init=addresses, fini=addresses, compartment=st.integers(0, 1000))
def test_startup_block_round_trips(argv, envp, init, fini, compartment):
    image = build_startup(TOP, argv, envp, init, fini, compartment)
    assert image.rsp % 16 == 0 and image.base + len(image.data) == TOP
    fields = [read_u64(image, image.rdi + 8 * i) for i in range(8)]
    argc, argv_at, envp_at, init_count, init_at, fini_count, fini_at, got_compartment = fields
    assert (argc, init_count, fini_count, got_compartment) == (len(argv), len(init), len(fini), compartment)
    assert [read_string(image, read_u64(image, argv_at + 8 * i)) for i in range(argc)] == argv
    assert read_u64(image, argv_at + 8 * argc) == 0
    assert [read_string(image, read_u64(image, envp_at + 8 * i)) for i in range(len(envp))] == envp
    assert read_u64(image, envp_at + 8 * len(envp)) == 0
    assert [read_u64(image, init_at + 8 * i) for i in range(init_count)] == init
    assert [read_u64(image, fini_at + 8 * i) for i in range(fini_count)] == fini


tls_modules = st.lists(
    st.tuples(st.binary(max_size=64), st.integers(0, 256), st.sampled_from([1, 2, 4, 8, 16, 32, 64])),
    max_size=6,
).map(lambda mods: [TlsTemplate(0, len(image), max(memsz, len(image)), align, image) for image, memsz, align in mods])


@given(tls_modules)
def test_static_tls_blocks_are_aligned_disjoint_and_below_the_thread_pointer(templates):
    layout = layout_static_tls(templates)
    base = 0x100_8000_1000
    area = build_thread_area(base, layout)
    tp = area.thread_pointer
    assert tp % layout.align == 0
    spans = []
    for block, template in zip(layout.blocks, templates, strict=True):
        image, memsz, align = template.image, template.memsz, template.align
        start = tp - block.tp_offset
        assert start % align == 0 and base <= start and start + memsz <= tp
        assert area.data[start - base : start - base + len(image)] == image
        assert not any(area.data[start - base + len(image) : start - base + memsz])  # .tbss is zero
        spans.append((start, start + memsz))
    spans.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    self_pointer, dtv = struct.unpack_from("<2Q", area.data, tp - base)
    assert self_pointer == tp and dtv % 8 == 0 and dtv >= tp + TCB_SIZE
    assert not any(area.data[tp - base + 16 : tp - base + TCB_SIZE])  # the rest of musl's descriptor: musl's
    count, static_size, align = struct.unpack_from("<3Q", area.data, tp + TCB_SIZE - base)  # the module table
    assert (count, static_size, align) == (len(layout.blocks), layout.static_size, layout.align)
    for index, block in enumerate(layout.blocks):
        at = tp + TCB_SIZE + (3 + 5 * index) * 8 - base
        image, length, size, alignment, offset = struct.unpack_from("<5Q", area.data, at)
        assert (length, size, alignment, offset) == (len(block.image), block.memsz, block.align, block.tp_offset)
        assert area.data[image - base : image - base + length] == block.image and image + length <= dtv
    dtv_entries = struct.unpack_from(f"<{1 + len(templates)}Q", area.data, dtv - base)
    assert list(dtv_entries) == [len(templates)] + [tp - block.tp_offset for block in layout.blocks]
