"""Finding libraries by their ``DT_NEEDED`` name (DESIGN.md "Guest ABI", ``twzemu run``).

Order: the ``-L`` directories, then the program's directory, then the object store's names (an object whose data
is an ELF file), then the guest runtime's directory — the runtime every compartment needs is found even when
nobody passed ``-L`` for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..elf.image import ElfImage
from ..errors import ObjectError
from ..objects.layout import DATA_OFFSET
from ..objects.store import ObjectStore


@dataclass(frozen=True, slots=True)
class LibrarySearch:
    directories: tuple[Path, ...]  # -L directories, then the program's
    store: ObjectStore | None = None
    fallback: Path | None = None  # the guest runtime's directory

    @classmethod
    def for_program(cls, program: Path, extra: Sequence[Path], runtime: Path | None,
                    store: ObjectStore | None) -> LibrarySearch:  # fmt: skip
        return cls((*extra, program.parent), store, runtime)

    def find(self, name: str) -> ElfImage | None:
        """The library called ``name``, or None. A name with a slash is a path."""
        if "/" in name:
            return ElfImage.open(name) if Path(name).is_file() else None
        for directory in self.directories:
            if (directory / name).is_file():
                return ElfImage.open(directory / name)
        found = self._from_store(name)
        if found is None and self.fallback is not None and (self.fallback / name).is_file():
            found = ElfImage.open(self.fallback / name)
        return found

    def _from_store(self, name: str) -> ElfImage | None:
        if self.store is None:
            return None
        try:
            obj = self.store.get(self.store.lookup(name))
        except ObjectError:
            return None
        return ElfImage.parse(f"{name} (object {obj.id})", obj.read(DATA_OFFSET, obj.data_size))
