"""The dynamic linker: a program and its libraries become relocated objects in slot pairs.

``Linker.link(program)`` follows these steps (the code below is in the same order):

1. **find** — the program, then every ``DT_NEEDED`` library breadth-first (``graph.load_order``), each file
   once: a library loaded once is shared by all its users;
2. **place** — library *k* in load order gets the slot pair (2k + 2, 2k + 3); its ``PT_LOAD`` segments are
   copied into a text object and a data object (``loader.build_objects``);
3. **TLS** — libraries with a ``PT_TLS`` segment get module ids 1, 2, … in load order and static blocks
   below the thread pointer (variant II, ``monitor.startup.layout_static_tls``);
4. **relocate** — every relocation of every table through the x86-64 recipe table (``relocs``), symbols by
   Twizzler's lookup order (``lookup``); every problem — a missing symbol, an unsupported relocation type, an
   overflow — is collected, and all are reported together in one ``LinkError``;
5. **order** — ``DT_PREINIT_ARRAY`` of the program, then per library in depth-first post-order
   (``graph.init_order``) ``DT_INIT`` and ``DT_INIT_ARRAY``, the program last; fini is the reverse.

Nothing here touches the CPU: the result is objects plus the addresses the monitor maps and starts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..elf.dynamic import DynamicInfo, DynReloc, DynSymbol, SymbolBind, SymbolKind
from ..elf.image import ElfImage
from ..errors import LinkError
from ..loader import SLOT_SIZE, LoadedImage, build_objects, slot_base
from ..objects.object import Object
from ..objects.store import ObjectStore
from .graph import init_order, load_order
from .lookup import Library, SymbolLookup
from .relocs import RelocInputs, RelocType, compute, reloc_name
from .search import LibrarySearch
from .tls import TlsLayout, layout_static_tls

FIRST_SLOT = 2
_U64 = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class LinkedLibrary:
    """One loaded file: its name as needed (the program: its path), where it is, and its TLS module."""

    name: str
    info: DynamicInfo
    loaded: LoadedImage
    tls_module: int | None

    @property
    def base(self) -> int:
        return self.loaded.base


@dataclass(frozen=True, slots=True)
class LinkedProgram:
    libraries: tuple[LinkedLibrary, ...]  # load order; [0] is the program
    tls: TlsLayout
    init: tuple[int, ...]  # addresses, in call order
    fini: tuple[int, ...]
    relocations: int

    @property
    def program(self) -> LinkedLibrary:
        return self.libraries[0]

    @property
    def entry(self) -> int:
        return self.program.loaded.entry


class Linker:
    """Links one program against the libraries ``search`` finds, creating its objects in ``store``."""

    def __init__(self, search: LibrarySearch, store: ObjectStore) -> None:
        self.search = search
        self.store = store

    def link(self, program: ElfImage, name: str) -> LinkedProgram:
        files = self._find(program, name)
        infos = {lib_name: DynamicInfo.read(image) for lib_name, image in files.items()}
        order = load_order(name, lambda n: infos[n].needed)
        libraries = self._place(order, files, infos)
        tls = layout_static_tls([_tls_template(libraries[n]) for n in order if libraries[n].tls_module])
        count = self._relocate(order, libraries, tls)
        init, fini = self._init_fini(name, libraries)
        return LinkedProgram(tuple(libraries[n] for n in order), tls, init, fini, count)

    # 1. find --------------------------------------------------------------------------------------------

    def _find(self, program: ElfImage, name: str) -> dict[str, ElfImage]:
        files = {name: program}
        missing: list[str] = []
        queue = [name]
        while queue:
            user = queue.pop(0)
            for needed in DynamicInfo.read(files[user]).needed:
                if needed in files or needed in missing:
                    continue
                image = self.search.find(needed)
                if image is None:
                    missing.append(f"{needed} (needed by {user})")
                    continue
                files[needed] = image
                queue.append(needed)
        if missing:
            where = ", ".join(str(d) for d in self.search.directories)
            raise LinkError([f"library not found: {m}; searched {where} and the object store" for m in missing])
        return files

    # 2. place -------------------------------------------------------------------------------------------

    def _place(self, order: list[str], files: dict[str, ElfImage],
               infos: dict[str, DynamicInfo]) -> dict[str, LinkedLibrary]:  # fmt: skip
        placed: dict[str, LinkedLibrary] = {}
        module = 0
        for index, lib_name in enumerate(order):
            info = infos[lib_name]
            if info.textrel:
                raise LinkError([f"{files[lib_name].path}: text relocations (DF_TEXTREL) are not supported: "
                                 "build with -fPIC (twzemu cc does)"])  # fmt: skip
            slot = FIRST_SLOT + 2 * index
            text, data = build_objects(self.store, files[lib_name])
            loaded = LoadedImage(files[lib_name], Path(lib_name).name, slot_base(slot), text, data, slot)
            tls_module = None
            if info.tls is not None and info.tls.memsz:
                module += 1
                tls_module = module
            placed[lib_name] = LinkedLibrary(lib_name, info, loaded, tls_module)
        return placed

    # 4. relocate ----------------------------------------------------------------------------------------

    def _relocate(self, order: list[str], libraries: dict[str, LinkedLibrary], tls: TlsLayout) -> int:
        lookup = SymbolLookup([Library.from_dynamic(n, libraries[n].info) for n in order])
        problems: list[str] = []
        count = 0
        for lib_name in order:
            library = libraries[lib_name]
            for reloc in library.info.relocations:
                problem = self._apply(library, reloc, libraries, lookup, tls)
                if problem is not None:
                    problems.append(problem)
                count += 1
        if problems:
            raise LinkError(problems)
        return count

    def _apply(self, library: LinkedLibrary, reloc: DynReloc, libraries: dict[str, LinkedLibrary],
               lookup: SymbolLookup, tls: TlsLayout) -> str | None:  # fmt: skip
        where = f"{library.loaded.image.path}: {reloc_name(reloc.r_type)} at {reloc.r_offset:#x}"
        symbol = library.info.symbols[reloc.r_sym] if reloc.r_sym else None
        inputs = self._inputs(library, reloc, symbol, libraries, lookup, tls)
        if isinstance(inputs, str):
            return f"{where}: {inputs}"
        try:
            value, width = compute(reloc.r_type, inputs)
        except LinkError as error:  # names the type itself
            return f"{library.loaded.image.path}: relocation at {reloc.r_offset:#x}: {error}"
        return _write(library, reloc.r_offset, value, width, where)

    def _inputs(self, library: LinkedLibrary, reloc: DynReloc, symbol: DynSymbol | None,
                libraries: dict[str, LinkedLibrary], lookup: SymbolLookup,
                tls: TlsLayout) -> RelocInputs | str:  # fmt: skip
        base = library.base
        inputs = dict(S=0, A=reloc.r_addend, P=base + reloc.r_offset, B=base, Z=0, module=0, dtp_offset=0, tp_offset=0)
        if symbol is None:
            if reloc.r_type in _TLS_TYPES and library.tls_module is not None:  # local-dynamic: this module
                block = tls.block_of(library.tls_module)
                inputs.update(module=library.tls_module, tp_offset=-block.tp_offset)
            return RelocInputs(**inputs)
        if symbol.defined and symbol.bind is SymbolBind.LOCAL:
            owner, value, size = library, symbol.st_value, symbol.st_size
        else:
            found = lookup.find(library.name, symbol.name)
            if found is None:
                if symbol.bind is SymbolBind.WEAK:
                    return RelocInputs(**inputs)  # an undefined weak reference resolves to 0 (psABI)
                return f"undefined symbol {symbol.name}"
            if found.symbol.kind is SymbolKind.GNU_IFUNC:
                return (f"symbol {symbol.name} is an indirect function (STT_GNU_IFUNC) in {found.library.name}: "
                        "not supported (twzemu does not run guest resolvers while linking)")  # fmt: skip
            owner = libraries[found.library.name]
            value, size = found.symbol.value, found.symbol.size
        if symbol.kind is SymbolKind.TLS or reloc.r_type in _TLS_TYPES:
            if owner.tls_module is None:
                return f"symbol {symbol.name} is thread-local but {owner.name} has no TLS segment"
            block = tls.block_of(owner.tls_module)
            inputs.update(module=owner.tls_module, dtp_offset=value, tp_offset=-block.tp_offset, S=value)
        else:
            inputs.update(S=owner.base + value)
        inputs.update(Z=size)
        return RelocInputs(**inputs)

    # 5. order -------------------------------------------------------------------------------------------

    def _init_fini(self, name: str, libraries: dict[str, LinkedLibrary]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        program = libraries[name]
        init = _array(program, program.info.preinit_array_at, program.info.preinit_array_count)
        fini: list[int] = []
        for lib_name in init_order(name, lambda n: libraries[n].info.needed):
            library = libraries[lib_name]
            info = library.info
            if info.init is not None:
                init.append(library.base + info.init)
            init += _array(library, info.init_array_at, info.init_array_count)
            object_fini = list(reversed(_array(library, info.fini_array_at, info.fini_array_count)))
            if info.fini is not None:
                object_fini.append(library.base + info.fini)
            fini[:0] = object_fini
        return tuple(init), tuple(fini)


_TLS_TYPES = frozenset({RelocType.DTPMOD64, RelocType.DTPOFF64, RelocType.TPOFF64})


def _tls_template(library: LinkedLibrary) -> tuple[bytes, int, int]:
    template = library.info.tls
    assert template is not None
    return template.image, template.memsz, template.align


def _target(library: LinkedLibrary, r_offset: int) -> tuple[Object, int]:
    if r_offset >= SLOT_SIZE:
        return library.loaded.data, r_offset - SLOT_SIZE
    return library.loaded.text, r_offset


def _write(library: LinkedLibrary, r_offset: int, value: int, width: int, where: str) -> str | None:
    obj, offset = _target(library, r_offset)
    if obj is library.loaded.text and width:
        return f"{where}: writes the read-only text (text relocations are not supported: build with -fPIC)"
    if not 0x1000 <= offset <= SLOT_SIZE - width:
        return f"{where}: lies outside the image"
    if width:
        obj.write(offset, value.to_bytes(width, "little"))
    return None


def _array(library: LinkedLibrary, at: int | None, count: int) -> list[int]:
    """Function pointers of an init/fini array, read after relocation (entries are RELATIVE-relocated)."""
    if at is None or count == 0:
        return []
    obj, offset = _target(library, at)
    raw = obj.read(offset, 8 * count)
    return [value for (value,) in _U64.iter_unpack(raw) if value not in (0, 0xFFFF_FFFF_FFFF_FFFF)]
