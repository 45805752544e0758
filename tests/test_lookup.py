"""Symbol lookup order and library graph orders, against slow reference models that follow the rules literally."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twzemu.errors import LinkError
from twzemu.linker import lookup as lookup_module
from twzemu.linker.graph import fini_order, init_order, load_order
from twzemu.linker.lookup import (
    RELOCATION_FLAGS,
    ExportedSymbol,
    Library,
    LookupFlags,
    Reference,
    SymbolLookup,
)

NAMES = ("alpha", "beta", "gamma")


# Random library graphs ------------------------------------------------------------------------------------


@st.composite
def graphs(draw: st.DrawFn, max_libraries: int = 8, acyclic: bool = False) -> dict[str, tuple[str, ...]]:
    """``name -> DT_NEEDED`` for libraries ``l0`` (the program) … ``ln``; cycles and self-edges unless acyclic."""
    count = draw(st.integers(1, max_libraries))
    names = [f"l{i}" for i in range(count)]
    graph = {}
    for i, name in enumerate(names):
        candidates = names[i + 1 :] if acyclic else names
        needed = draw(st.lists(st.sampled_from(candidates), unique=True, max_size=4)) if candidates else []
        graph[name] = tuple(needed)
    return graph


def reachable_from(graph: dict[str, tuple[str, ...]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for n in graph[todo.pop()]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Library], str, str, LookupFlags]:
    """Loaded libraries (in load order) with random strong/weak definitions, a referrer, a name and flags."""
    graph = draw(graphs())
    order = load_order("l0", graph.__getitem__)
    libraries = []
    for name in order:
        exports = {}
        for symbol in NAMES:
            kind = draw(st.sampled_from(("none", "none", "strong", "weak")))
            if kind != "none":
                exports[symbol] = ExportedSymbol(value=int(name[1:]) * 0x100 + NAMES.index(symbol), weak=kind == "weak")
        libraries.append(Library(name, graph[name], exports))
    referrer = draw(st.sampled_from(order))
    flags = LookupFlags(0)
    for flag in LookupFlags:
        if draw(st.booleans()):
            flags |= flag
    return libraries, referrer, draw(st.sampled_from(NAMES)), flags


# The reference model: Twizzler's do_lookup_symbol, line by line, scanning every library -----------------


def reference_find(libraries: list[Library], referrer: str, name: str, flags: LookupFlags) -> str | None:
    by_name = {library.name: library for library in libraries}

    def bfs(start: str) -> list[str]:
        order, queue = [start], deque([start])
        while queue:
            for needed in by_name[queue.popleft()].needed:
                if needed not in order:
                    order.append(needed)
                    queue.append(needed)
        return order

    def matches(library: str, allow_weak: bool) -> bool:
        symbol = by_name[library].exports.get(name)
        return symbol is not None and (allow_weak or not symbol.weak)

    def search(flags: LookupFlags) -> str | None:
        allow_weak = LookupFlags.ALLOW_WEAK in flags
        if LookupFlags.SKIP_SELF not in flags and matches(referrer, allow_weak):
            return referrer
        if LookupFlags.SKIP_DEPS not in flags:
            for dep in bfs(referrer):
                if dep != referrer and matches(dep, allow_weak):
                    return dep
        if LookupFlags.SKIP_GLOBAL not in flags:
            for library in libraries:
                if matches(library.name, allow_weak):
                    return library.name
            if not allow_weak:
                return search(flags | LookupFlags.ALLOW_WEAK)
        return None

    return search(flags)


@given(worlds())
def test_lookup_matches_the_reference_model(world):
    libraries, referrer, name, flags = world
    found = SymbolLookup(libraries).find(referrer, name, flags)
    assert (found and found.library.name) == reference_find(libraries, referrer, name, flags)
    if found is not None:
        assert found.symbol is found.library.exports[name]


@given(worlds())
def test_relocations_take_the_first_definition_weak_or_strong(world):
    libraries, referrer, name, _ = world
    lookup = SymbolLookup(libraries)
    found = lookup.find(referrer, name)
    order = lookup.search_order(referrer)
    first = next((lib for lib in order if name in lookup.library(lib).exports), None)
    assert (found and found.library.name) == first
    assert RELOCATION_FLAGS == LookupFlags.ALLOW_WEAK


@given(worlds())
def test_search_order_is_self_then_dependencies_breadth_first_then_load_order(world):
    libraries, referrer, _, _ = world
    order = SymbolLookup(libraries).search_order(referrer)
    by_name = {library.name: library for library in libraries}
    deps = load_order(referrer, lambda n: by_name[n].needed)  # self, then BFS over DT_NEEDED
    assert order[: len(deps)] == deps
    assert order[len(deps) :] == [lib.name for lib in libraries if lib.name not in deps]


def lib(name: str, needed: tuple[str, ...] = (), **exports: str) -> Library:
    return Library(name, needed, {s: ExportedSymbol(0x10, weak=kind == "weak") for s, kind in exports.items()})


def test_self_wins():
    libs = [lib("prog", ("a",), f="strong"), lib("a", f="strong")]
    assert SymbolLookup(libs).find("prog", "f").library.name == "prog"
    assert SymbolLookup(libs).find("prog", "f", LookupFlags.SKIP_SELF).library.name == "a"


def test_a_dependency_found_breadth_first_beats_a_deeper_one():
    # prog needs a then b; a needs deep. deep is found first depth-first, b breadth-first.
    libs = [lib("prog", ("a", "b")), lib("a", ("deep",)), lib("b", f="strong"), lib("deep", f="strong")]
    assert SymbolLookup(libs).find("prog", "f").library.name == "b"
    # From a, its own dependency comes before the global step reaches b.
    assert SymbolLookup(libs).find("a", "f").library.name == "deep"


def test_weak_definitions():
    libs = [lib("prog", ("a", "b")), lib("a", f="weak"), lib("b", f="strong"), lib("c", g="weak")]
    lookup = SymbolLookup(libs)
    assert lookup.find("prog", "f").library.name == "a"  # relocations: the first definition, weak or not
    assert lookup.find("prog", "f", LookupFlags(0)).library.name == "b"  # strong first, then the weak retry
    assert lookup.find("prog", "g", LookupFlags(0)).library.name == "c"  # weak-only resolves
    assert lookup.find("prog", "g", LookupFlags.SKIP_GLOBAL) is None  # no global step, no weak retry
    assert lookup.find("prog", "nowhere") is None


def test_resolve_all_reports_every_missing_strong_reference_at_once():
    lookup = SymbolLookup([lib("prog", ("a",)), lib("a", f="strong")])
    refs = [
        Reference("prog", "f"),
        Reference("prog", "weak_missing", weak=True),
        Reference("a", "x"),
        Reference("prog", "y"),
    ]
    with pytest.raises(LinkError) as caught:
        lookup.resolve_all(refs)
    assert caught.value.lines() == ["a: undefined symbol x", "prog: undefined symbol y"]
    assert str(caught.value) == "a: undefined symbol x (and 1 more link problems)"
    resolved = lookup.resolve_all(refs[:2])
    assert resolved[refs[0]].library.name == "a" and resolved[refs[1]] is None


def test_unknown_or_duplicate_libraries_are_link_errors():
    with pytest.raises(LinkError, match="library a is loaded twice"):
        SymbolLookup([lib("a"), lib("a")])
    with pytest.raises(LinkError, match="library prog needs nope, which is not loaded"):
        SymbolLookup([lib("prog", ("nope",), f="strong")])
    with pytest.raises(LinkError, match="library ghost is not loaded"):
        SymbolLookup([lib("prog", f="strong")]).find("ghost", "f")


def test_each_search_list_is_built_once_per_library(monkeypatch):
    """64 libraries x 200 references: one breadth-first walk per referrer, not one per reference."""
    names = [f"lib{i}" for i in range(64)]
    libs = [
        Library(n, tuple(names[i + 1 : i + 4]), {f"s{i}_{k}": ExportedSymbol(k) for k in range(200)})
        for i, n in enumerate(names)
    ]
    walks: list[int] = []
    original = SymbolLookup._breadth_first
    monkeypatch.setattr(SymbolLookup, "_breadth_first", lambda self, at: walks.append(at) or original(self, at))
    lookup = SymbolLookup(libs)
    for i, name in enumerate(names):
        for k in range(200):
            found = lookup.find(name, f"s{(i * 7 + k) % 64}_{k}")
            assert found is not None and found.symbol.value == k
    assert sorted(walks) == list(range(64))
    assert lookup_module.RELOCATION_FLAGS is RELOCATION_FLAGS


# Graph orders -----------------------------------------------------------------------------------------------


def counting(graph: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], tuple[str, ...]], list[str]]:
    calls: list[str] = []

    def needed_of(name: str) -> tuple[str, ...]:
        calls.append(name)
        return graph[name]

    return needed_of, calls


def reference_init_order(graph: dict[str, tuple[str, ...]], root: str) -> list[str]:
    """Recursive depth-first post-order, straight from the definition."""
    order: list[str] = []
    discovered: set[str] = set()

    def visit(name: str) -> None:
        discovered.add(name)
        for needed in graph[name]:
            if needed not in discovered:
                visit(needed)
        order.append(name)

    visit(root)
    return order


@given(graphs())
def test_load_order_is_breadth_first_each_library_once(graph):
    needed_of, calls = counting(graph)
    order = load_order("l0", needed_of)
    assert order[0] == "l0" and len(order) == len(set(order)) and set(order) == reachable_from(graph, "l0")
    assert sorted(calls) == sorted(order)
    # Breadth-first: a library's first user comes before the first user of any library loaded after it.
    first_user = {"l0": -1}
    for position, name in enumerate(order):
        for needed in graph[name]:
            first_user.setdefault(needed, position)
    assert [first_user[n] for n in order] == sorted(first_user[n] for n in order)


@given(graphs())
def test_init_order_puts_dependencies_first_except_along_cycles(graph):
    needed_of, calls = counting(graph)
    order = init_order("l0", needed_of)
    assert order == reference_init_order(graph, "l0")
    assert order[-1] == "l0" and len(order) == len(set(order)) and set(order) == reachable_from(graph, "l0")
    assert sorted(calls) == sorted(order)
    position = {name: i for i, name in enumerate(order)}
    for user in order:
        for needed in graph[user]:
            if position[needed] > position[user]:  # only a back edge: the dependency reaches its user
                assert user in reachable_from(graph, needed)
    assert fini_order("l0", graph.__getitem__) == order[::-1]


@given(graphs(acyclic=True))
def test_init_order_of_a_dag_is_topological(graph):
    position = {name: i for i, name in enumerate(init_order("l0", graph.__getitem__))}
    assert all(position[needed] < position[user] for user in position for needed in graph[user])


def test_cycles_terminate_and_deep_graphs_need_no_recursion():
    assert init_order("a", {"a": ("b",), "b": ("a",)}.__getitem__) == ["b", "a"]
    assert init_order("a", {"a": ("a",)}.__getitem__) == ["a"]
    depth = sys.getrecursionlimit() + 1000
    chain = {f"l{i}": (f"l{i + 1}", "l0") for i in range(depth)} | {f"l{depth}": ("l0",)}
    order = init_order("l0", chain.__getitem__)
    assert order == [f"l{i}" for i in range(depth, -1, -1)]
    assert load_order("l0", chain.__getitem__) == [f"l{i}" for i in range(depth + 1)]
