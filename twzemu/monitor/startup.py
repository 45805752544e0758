"""What a program finds when it starts: the startup block on its stack and its first thread's TLS area.

Both are laid out here as bytes at known virtual addresses (pure functions, no CPU), then written into the
stack and thread objects before they are mapped. The layouts are the contract in
``twzemu/sdk/include/twz_startup.h``.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..abi import NOT_IN_A_GATE, TCB_SIZE, TLS_MODULE_WORDS, TLS_TABLE_WORDS, WORD
from ..linker.tls import TlsLayout, align_up
from ..objects.layout import U64_MASK


def host_environment() -> dict[str, str]:
    """twzemu's environment as the host gave it: without the ``LC_CTYPE=C.UTF-8`` Python adds to its own when the
    host's locale is C or POSIX (PEP 538's coercion, which also turns on UTF-8 mode: that tells it from a user's
    own setting), so a guest's ``setlocale(LC_ALL, "")`` finds what it would natively."""
    environment = dict(os.environ)
    coerced = sys.flags.utf8_mode and not os.environ.get("PYTHONUTF8") and "-X" not in sys.orig_argv
    if coerced and environment.get("LC_CTYPE") == "C.UTF-8":
        del environment["LC_CTYPE"]
    return environment


@dataclass(frozen=True, slots=True)
class StartupImage:
    """Bytes to place at ``base`` (up to the stack top); the program starts with ``rsp`` and ``rdi``."""

    base: int
    data: bytes
    rsp: int
    rdi: int


def build_startup(
    top: int,
    argv: Sequence[bytes],
    envp: Sequence[bytes],
    init: Sequence[int],
    fini: Sequence[int],
    compartment: int,
) -> StartupImage:
    """Lay out strings, pointer arrays and ``struct twz_startup`` below ``top``; rsp is 16-byte aligned."""
    strings = b""
    string_offsets: list[int] = []
    for text in (*argv, *envp):
        string_offsets.append(len(strings))
        strings += text + b"\0"
    words_count = (len(argv) + 1) + (len(envp) + 1) + len(init) + len(fini) + 8
    strings_at = (top - len(strings)) & ~0xF
    words_at = (strings_at - words_count * WORD) & ~0xF
    argv_at = words_at
    envp_at = argv_at + (len(argv) + 1) * WORD
    init_at = envp_at + (len(envp) + 1) * WORD
    fini_at = init_at + len(init) * WORD
    startup_at = fini_at + len(fini) * WORD
    pointers = [strings_at + offset for offset in string_offsets]
    words = [*pointers[: len(argv)], 0, *pointers[len(argv) :], 0, *init, *fini]
    words += [len(argv), argv_at, envp_at, len(init), init_at, len(fini), fini_at, compartment]
    rsp = words_at - 2 * WORD  # a zero "return address" slot pair: _start never returns
    data = bytearray(top - rsp)
    struct.pack_into(f"<{len(words)}Q", data, words_at - rsp, *[w & U64_MASK for w in words])
    data[strings_at - rsp : strings_at - rsp + len(strings)] = strings
    return StartupImage(rsp, bytes(data), rsp, startup_at)


@dataclass(frozen=True, slots=True)
class ThreadArea:
    """A thread's TLS area: static blocks, then the TCB at the thread pointer, then the DTV."""

    base: int
    data: bytes
    thread_pointer: int


def build_thread_area(base: int, layout: TlsLayout) -> ThreadArea:
    """Static TLS blocks, then the thread descriptor at the thread pointer (``TCB_SIZE`` bytes for musl: the
    monitor writes its self pointer and DTV), then the TLS module table (``struct twz_tls_modules``, with a
    pristine copy of each module's image after it), then the DTV."""
    tp = align_up(base + layout.static_size, layout.align)
    table = tp + TCB_SIZE
    images = table + (TLS_TABLE_WORDS + TLS_MODULE_WORDS * len(layout.blocks)) * WORD
    image_at = []
    for block in layout.blocks:
        image_at.append(images)
        images = align_up(images + len(block.image), WORD)
    dtv = images
    dtv_words = 1 + len(layout.blocks)
    data = bytearray(dtv + dtv_words * WORD - base)
    for block, copy in zip(layout.blocks, image_at, strict=True):
        start = tp - block.tp_offset - base
        data[start : start + len(block.image)] = block.image
        data[copy - base : copy - base + len(block.image)] = block.image
    struct.pack_into("<2Q", data, tp - base, tp, dtv)
    words = [len(layout.blocks), layout.static_size, layout.align]
    for block, copy in zip(layout.blocks, image_at, strict=True):
        words += [copy, len(block.image), block.memsz, block.align, block.tp_offset]
    struct.pack_into(f"<{len(words)}Q", data, table - base, *words)
    addresses = [tp - block.tp_offset for block in layout.blocks]
    struct.pack_into(f"<{dtv_words}Q", data, dtv - base, len(layout.blocks), *addresses)  # dtv[0]: how many
    return ThreadArea(base, bytes(data), tp)


def thread_info(thread_id: int, gate_buffer: int, address: int) -> bytes:
    """``struct twz_thread_info`` at ``address`` of a thread not inside a gate, whose gate buffer is ``gate_buffer``."""
    return struct.pack("<qqQQ", thread_id, NOT_IN_A_GATE, gate_buffer, address)
