"""Finding libraries by their ``DT_NEEDED`` name (DESIGN.md "Guest ABI", ``twzemu run``).

Order: the ``-L`` directories, then the program's directory, then the object store's names (an object whose data
is an ELF file), then the guest runtime's directory. The runtime itself (``runtime_name``), which the linker
copies into every compartment, isolated ones included, comes only from the runtime's directory: a file of that
name next to a program, in a ``-L`` directory or in the store would otherwise run its author's code inside
every compartment (issue 8, "every other symbol a runtime binds").

Every image found is opened with the run's derived-data cache (``twzemu.cache``), so what is read from it once is
read back on the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cache import DerivedCache
from ..elf.image import ElfImage
from ..errors import ObjectError
from ..objects.layout import DATA_OFFSET
from ..objects.store import ObjectStore


@dataclass(frozen=True, slots=True)
class LibrarySearch:
    directories: tuple[Path, ...]  # -L directories, then the program's
    store: ObjectStore | None = None
    fallback: Path | None = None  # the guest runtime's directory
    runtime_name: str | None = None  # the runtime every compartment gets: found in ``fallback`` only
    cache: DerivedCache | None = None  # what is derived from the images found: kept here

    @classmethod
    def for_program(
        cls,
        program: Path,
        extra: Sequence[Path],
        runtime: Path | None,
        store: ObjectStore | None,
        runtime_name: str | None = None,
        cache: DerivedCache | None = None,
    ) -> LibrarySearch:
        return cls((*extra, program.parent), store, runtime, runtime_name, cache)

    def find(self, name: str) -> ElfImage | None:
        """The library called ``name``, or None. A name with a slash is a path."""
        if name == self.runtime_name:
            runtime = None if self.fallback is None else self.fallback / name
            return ElfImage.open(runtime, self.cache) if runtime is not None and runtime.is_file() else None
        if "/" in name:
            return ElfImage.open(name, self.cache) if Path(name).is_file() else None
        for directory in self.directories:
            if (directory / name).is_file():  # named DIR/NAME as the directory was given (./libfoo.so, as glibc)
                return ElfImage.open(f"{directory}/{name}", self.cache)
        found = self._from_store(name)
        if found is None and self.fallback is not None and (self.fallback / name).is_file():
            found = ElfImage.open(self.fallback / name, self.cache)
        return found

    def _from_store(self, name: str) -> ElfImage | None:
        if self.store is None:
            return None
        try:
            obj = self.store.get(self.store.lookup(name))
        except ObjectError:
            return None
        return ElfImage.parse(f"{name} (object {obj.id})", obj.read(DATA_OFFSET, obj.data_size), self.cache)
