"""The two readers of ``elf.image`` agree: whatever the ``struct`` reader accepts, pyelftools reads the same way
(program headers, entry, section count)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import GUESTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twzemu.elf import image as elf_image
from twzemu.elf.image import ElfImage
from twzemu.errors import ElfError

FILES = sorted(path for path in GUESTS.rglob("*") if path.is_file() and path.read_bytes()[:4] == b"\x7fELF")


def _through_pyelftools(data: bytes) -> tuple[int, tuple]:
    elf = elf_image._pyelftools(data)
    elf_image._check_kind("file", elf)
    return elf.header.e_entry, tuple(elf_image._headers_of(elf, data))


def test_every_guest_file_reads_the_same_both_ways():
    assert FILES, "no guests: run `make guests`"
    for path in FILES:
        data = path.read_bytes()
        plain = elf_image._plain_headers(data)
        if path.suffix == ".o":  # ET_REL: the struct reader declines, pyelftools names it
            assert plain is None, path
            with pytest.raises(ElfError, match="ET_REL is not loadable"):
                ElfImage.parse("file", data)
        else:
            assert plain is not None and plain == _through_pyelftools(data), path
            assert ElfImage.parse("file", data).section_count == elf_image._pyelftools(data).num_sections(), path


@settings(deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_a_mutated_header_is_read_the_same_way_or_left_to_pyelftools(data):
    original = bytearray((GUESTS / "hello").read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(4, 64 + 56 * 4))  # the ELF header after the magic, the first program headers
        width = data.draw(st.sampled_from([1, 2, 4, 8]))
        value = data.draw(st.integers(0, 2 ** (8 * width) - 1))
        original[at : at + width] = value.to_bytes(width, "little")
    if data.draw(st.booleans()):
        del original[data.draw(st.integers(4, len(original))) :]
    mutated = bytes(original)
    plain = elf_image._plain_headers(mutated)
    if plain is not None:
        assert plain == _through_pyelftools(mutated)
    try:
        count = ElfImage.parse("mutated", mutated).section_count
    except ElfError as error:
        assert str(error).startswith("mutated: ")
    else:
        assert count == elf_image._pyelftools(mutated).num_sections()
