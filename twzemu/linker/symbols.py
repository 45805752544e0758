"""Addresses as ``symbol+0xoff``: what every report prints instead of a bare number.

Why in ``linker/``: naming an address is symbol lookup (``lookup``) run backwards, over the images the linker
placed (``LoadedImage``: which slot pair, which object); on this floor it serves both the monitor's reports and,
above them, the debugger.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..loader import LoadedImage


@dataclass(frozen=True, slots=True)
class Region:
    """A mapped object that is not an ELF image (a stack, a heap, the gate buffer), named for reports."""

    name: str
    start: int
    end: int


@dataclass(slots=True)
class Symbolizer:
    """Names addresses of the loaded images; ``<object>+0xoff`` when no symbol covers the address."""

    images: list[LoadedImage] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    _tables: dict[int, tuple[list[int], list[tuple[str, int]]]] = field(default_factory=dict)

    def add(self, image: LoadedImage) -> None:
        self.images.append(image)
        entries = sorted((image.base + s.st_value, s.st_name, s.st_size) for s in image.image.symbols)
        self._tables[image.base] = ([e[0] for e in entries], [(e[1], e[2]) for e in entries])

    def add_region(self, region: Region) -> None:
        self.regions.append(region)

    def image_at(self, address: int) -> LoadedImage | None:
        return next((image for image in self.images if image.contains(address)), None)

    def name(self, address: int) -> str:
        image = self.image_at(address)
        if image is None:
            region = next((r for r in self.regions if r.start <= address < r.end), None)
            return f"{address:#x}" if region is None else f"{region.name}+{address - region.start:#x}"
        starts, names = self._tables[image.base]
        index = bisect.bisect_right(starts, address) - 1
        if index >= 0:
            symbol, size = names[index]
            offset = address - starts[index]
            if offset < max(size, 1):
                return f"{symbol}+{offset:#x}"
        obj, offset = image.locate(address - image.base)
        return f"{image.name}:{'text' if obj is image.text else 'data'}+{offset:#x}"
