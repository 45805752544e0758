"""Symbol lookup: which loaded library defines the symbol a relocation names — Twizzler's order, exactly.

The rule (Twizzler ``src/lib/dynlink/src/context/syms.rs``, ``Context::do_lookup_symbol``, lines 45-114 at
commit c09e6e3; per-library test in ``library.rs`` ``Library::do_lookup_symbol``, lines 288-420):

1. **self** — the referring library (unless ``SKIP_SELF``);
2. **dependencies** — the referrer's ``DT_NEEDED`` graph breadth-first, each library once, the referrer itself
   skipped (``build_deps_search_list``, a BFS from the referrer; unless ``SKIP_DEPS``);
3. **global** — every loaded library in load order, the referrer included (``lookup_symbol_global``; unless
   ``SKIP_GLOBAL``);
4. **weak retry** — if steps 1-3 found nothing and ``ALLOW_WEAK`` was not set, the whole search runs again
   with ``ALLOW_WEAK`` (only when the global step ran: with ``SKIP_GLOBAL`` there is no retry).

A library *matches* when it defines the name (undefined entries never match) and the definition is strong
(any binding but ``STB_WEAK``, ``library.rs:334``) or ``ALLOW_WEAK`` is set. So without ``ALLOW_WEAK`` a strong
definition anywhere beats a weak one found earlier, and weak-only names resolve to the first weak definition.
**Relocations pass ``ALLOW_WEAK``** (``arch/x86_64.rs``, ``do_reloc``, lines 74-79: both branches of the
``if`` choose it), so for relocations the first definition in the order above wins, weak or strong — which is
also glibc's default. ``RELOCATION_FLAGS`` is that choice and the default of ``find``. An undefined *weak*
reference that resolves nowhere has the value 0 (psABI; Twizzler ``RelocatedSymbol::new_zero``).

Not modelled here (they belong to compartments and gates, ``linker.link``): the check that a library in another
compartment is only visible through its secure gates, weak definitions being ignored across compartments, the
``__TWIZZLER_SECURE_GATE_`` name prefix, and the monitor's reserved ``__twz_monitor_*`` names (a file that defines
one is refused before any lookup, and references to them never reach lookup). Differences from Twizzler's code, on
purpose: its graph iterates each library's dependencies newest edge first (petgraph prepends edges), so its BFS
visits ``DT_NEEDED`` in *reverse* file order; here it is file order. Its global order is the graph's node order,
which is the depth-first order libraries were loaded in; here it is whatever load order the caller gives (``graph.
load_order``: breadth-first). And its ``RelocCache`` reuses the first result for a name for every later library of
the same compartment, even where that library's own definition would win by step 1.

Cost: ``SymbolLookup`` indexes every definition once (name → the libraries defining it). Each referrer's
search list (itself and its dependencies, breadth-first) is built once, on first use; libraries reached only by
the global step are ranked by load position without being listed. A lookup then costs O(number of libraries
defining the name) — usually one — not a scan of the search list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntFlag

from ..elf.dynamic import SHN_ABS, DynamicInfo, DynSymbol, SymbolBind, SymbolKind, SymbolVisibility
from ..errors import LinkError, LinkErrorKind


class LookupFlags(IntFlag):
    """Twizzler's ``LookupFlags`` (``src/lib/dynlink/src/symbol.rs``), without ``SKIP_SECGATE_CHECK`` (gates)."""

    SKIP_SELF = 0x1
    SKIP_DEPS = 0x2
    SKIP_GLOBAL = 0x4
    ALLOW_WEAK = 0x10


#: What Twizzler's relocation code passes for every symbol (``arch/x86_64.rs`` ``do_reloc``).
RELOCATION_FLAGS = LookupFlags.ALLOW_WEAK


@dataclass(frozen=True, slots=True)
class ExportedSymbol:
    """A definition a library offers: ``value`` relative to its load base (or TLS block, for TLS symbols), or, if
    ``absolute`` (``SHN_ABS``), as it is wherever the library lies."""

    value: int
    weak: bool = False
    size: int = 0
    kind: SymbolKind = SymbolKind.NOTYPE
    absolute: bool = False

    def address(self, base: int) -> int:
        """Its address in a library loaded at ``base``."""
        return self.value if self.absolute else base + self.value


@dataclass(frozen=True, slots=True)
class Library:
    """A loaded library as lookup sees it: its name, its ``DT_NEEDED`` names (file order), its definitions."""

    name: str
    needed: tuple[str, ...]
    exports: Mapping[str, ExportedSymbol] = field(default_factory=dict)

    @classmethod
    def from_dynamic(cls, name: str, info: DynamicInfo) -> Library:
        """The library a file's dynamic symbol table describes (see ``exports_of``)."""
        return cls(name, info.needed, exports_of(info))


def exports_of(info: DynamicInfo) -> dict[str, ExportedSymbol]:
    """The definitions other libraries can bind to (``exported_symbols``), as lookup sees them. Worked out once per
    ``info`` (a link asks for each library's several times, and the C library exports about 1,700): the result is
    shared, never to be changed."""
    kept = _EXPORTS.get(id(info))
    if kept is not None and kept[0] is info:
        return kept[1]
    exports = {
        name: ExportedSymbol(
            symbol.st_value, symbol.bind is SymbolBind.WEAK, symbol.st_size, symbol.kind, symbol.st_shndx == SHN_ABS
        )
        for name, symbol in exported_symbols(info).items()
    }
    if len(_EXPORTS) >= _EXPORTS_KEPT:
        del _EXPORTS[next(iter(_EXPORTS))]  # the oldest
    _EXPORTS[id(info)] = (info, exports)  # info is held: its id is not reused while it is kept
    return exports


_EXPORTS: dict[int, tuple[DynamicInfo, dict[str, ExportedSymbol]]] = {}
_EXPORTS_KEPT = 64


def exported_symbols(info: DynamicInfo) -> dict[str, DynSymbol]:
    """The dynamic symbols other libraries can bind to: defined, named, not ``LOCAL``, visible (not ``HIDDEN`` or
    ``INTERNAL``); for a name defined twice (symbol versions), the first entry, as a hash-table lookup finds."""
    exports: dict[str, DynSymbol] = {}
    for symbol in info.symbols:
        if not (symbol.defined and symbol.name) or symbol.bind is SymbolBind.LOCAL:
            continue
        if symbol.visibility in (SymbolVisibility.HIDDEN, SymbolVisibility.INTERNAL):
            continue
        exports.setdefault(symbol.name, symbol)
    return exports


@dataclass(frozen=True, slots=True)
class Definition:
    """Where a name resolved: the defining library and its definition."""

    library: Library
    symbol: ExportedSymbol


@dataclass(frozen=True, slots=True)
class Reference:
    """A symbol a library refers to; ``weak`` references may stay undefined (value 0)."""

    referrer: str
    name: str
    weak: bool = False


class SymbolLookup:
    """Lookup over a set of loaded libraries, given in load order (module docstring for the rule)."""

    __slots__ = ("_definers", "_index", "_libraries", "_lists")

    def __init__(self, libraries: Sequence[Library]) -> None:
        self._libraries = tuple(libraries)
        self._index: dict[str, int] = {}
        for position, library in enumerate(self._libraries):
            if library.name in self._index:
                raise LinkError(f"library {library.name} is loaded twice")
            self._index[library.name] = position
        missing = [
            f"library {library.name} needs {needed}, which is not loaded"
            for library in self._libraries
            for needed in library.needed
            if needed not in self._index
        ]
        if missing:
            raise LinkError(missing, LinkErrorKind.UNDEFINED_SYMBOL)
        self._definers: dict[str, list[int]] = {}
        for position, library in enumerate(self._libraries):
            for name in library.exports:
                self._definers.setdefault(name, []).append(position)
        self._lists: dict[tuple[int, LookupFlags], _SearchList] = {}

    @property
    def libraries(self) -> tuple[Library, ...]:
        return self._libraries

    def library(self, name: str) -> Library:
        return self._libraries[self._position(name)]

    def find(self, referrer: str, name: str, flags: LookupFlags = RELOCATION_FLAGS) -> Definition | None:
        """The definition ``name`` binds to when ``referrer`` refers to it; ``None`` if nothing matches."""
        definers = self._definers.get(name)
        if not definers:
            return None
        search = self._search_list(self._position(referrer), flags)
        allow_weak = LookupFlags.ALLOW_WEAK in flags
        best = search.first(name, definers, self._libraries, allow_weak)
        if best is None and not allow_weak and LookupFlags.SKIP_GLOBAL not in flags:
            best = search.first(name, definers, self._libraries, allow_weak=True)  # the weak retry (step 4)
        if best is None:
            return None
        library = self._libraries[best]
        return Definition(library, library.exports[name])

    def search_order(self, referrer: str, flags: LookupFlags = RELOCATION_FLAGS) -> list[str]:
        """The libraries ``referrer`` searches, in order, each once (steps 1-3 of the module docstring)."""
        return [self._libraries[p].name for p in self._search_list(self._position(referrer), flags).order()]

    def resolve_all(
        self, references: Iterable[Reference], flags: LookupFlags = RELOCATION_FLAGS
    ) -> dict[Reference, Definition | None]:
        """Resolve many references at once; ``None`` for an undefined weak one (its value is 0).

        Raises one ``LinkError`` listing every undefined strong reference (every missing symbol at once).
        """
        resolved: dict[Reference, Definition | None] = {}
        missing: list[str] = []
        for reference in references:
            if reference in resolved:
                continue
            found = self.find(reference.referrer, reference.name, flags)
            if found is None and not reference.weak:
                missing.append(f"{reference.referrer}: undefined symbol {reference.name}")
            resolved[reference] = found
        if missing:
            raise LinkError(missing, LinkErrorKind.UNDEFINED_SYMBOL)
        return resolved

    def _position(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise LinkError(f"library {name} is not loaded") from None

    def _search_list(self, referrer: int, flags: LookupFlags) -> _SearchList:
        key = (referrer, flags & ~LookupFlags.ALLOW_WEAK)
        found = self._lists.get(key)
        if found is None:
            local: list[int] = []
            if LookupFlags.SKIP_SELF not in flags:
                local.append(referrer)
            if LookupFlags.SKIP_DEPS not in flags:
                local.extend(p for p in self._breadth_first(referrer) if p != referrer)
            found = self._lists[key] = _SearchList(local, LookupFlags.SKIP_GLOBAL not in flags, len(self._libraries))
        return found

    def _breadth_first(self, start: int) -> list[int]:
        """``start`` and everything it needs, transitively, breadth-first in ``DT_NEEDED`` file order."""
        seen = {start}
        order = [start]
        queue = deque([start])
        while queue:
            for needed in self._libraries[queue.popleft()].needed:
                position = self._index[needed]
                if position not in seen:
                    seen.add(position)
                    order.append(position)
                    queue.append(position)
        return order


class _SearchList:
    """One referrer's search order (steps 1-3): self and its dependencies as an explicit rank table, then, when
    the global step runs, every other library ranked by load position after them (no per-referrer copy)."""

    __slots__ = ("_count", "_global", "_local")

    def __init__(self, local: list[int], global_step: bool, count: int) -> None:
        self._local: dict[int, int] = {}
        for position in local:
            self._local.setdefault(position, len(self._local))
        self._global = global_step
        self._count = count

    def rank(self, position: int) -> int | None:
        rank = self._local.get(position)
        if rank is None and self._global:
            return len(self._local) + position
        return rank

    def order(self) -> list[int]:
        rest = [p for p in range(self._count) if p not in self._local] if self._global else []
        return [*self._local, *rest]

    def first(self, name: str, definers: list[int], libraries: Sequence[Library], allow_weak: bool) -> int | None:
        """The best-ranked library among ``definers`` that the search reaches and whose definition matches."""
        best: int | None = None
        best_rank = 0
        for position in definers:
            rank = self.rank(position)
            if rank is None or (best is not None and rank >= best_rank):
                continue
            if allow_weak or not libraries[position].exports[name].weak:
                best, best_rank = position, rank
        return best
