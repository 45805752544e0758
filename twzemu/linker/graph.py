"""The library graph: which libraries a program loads, in which order, and in which order they initialise.

A program and its libraries form a directed graph: an edge ``a → b`` for every ``DT_NEEDED`` entry ``b`` of
``a``, in file order. Cycles are legal (two libraries may need each other) and a library needed by several
users is loaded once and shared. The functions take the graph as a resolver, ``needed_of(name)``, called at
most once per library, so callers can build the graph while they find files.

* ``load_order`` — breadth-first from the program, each library once: the order libraries are placed in
  (and the "global" step of symbol lookup searches);
* ``init_order`` — depth-first post-order from the program, dependencies in file order, an edge back to a
  library still being visited (a cycle) skipped: every library after what it needs, except along a cycle,
  and the program last. Twizzler relocates in the same depth-first post-order (``relocate_recursive`` in
  ``context/relocate.rs``: "In the end, this is depth-first postorder") and runs constructors over
  ``with_dfs_postorder``;
* ``fini_order`` — the reverse of ``init_order``: users are finalised before what they use.

All three are iterative (no recursion limit: a chain of thousands of libraries is fine) and linear in the
size of the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

NeededOf = Callable[[str], Sequence[str]]


def load_order(root: str, needed_of: NeededOf) -> list[str]:
    """``root`` then every library it needs, transitively, breadth-first in ``DT_NEEDED`` order, each once."""
    order = [root]
    seen = {root}
    queue = deque([root])
    while queue:
        for needed in needed_of(queue.popleft()):
            if needed not in seen:
                seen.add(needed)
                order.append(needed)
                queue.append(needed)
    return order


def init_order(root: str, needed_of: NeededOf) -> list[str]:
    """Depth-first post-order from ``root``: each library after its dependencies (back edges of cycles
    skipped), each once, ``root`` last."""
    order: list[str] = []
    discovered = {root}
    stack: list[tuple[str, Iterator[str]]] = [(root, iter(needed_of(root)))]
    while stack:
        library, pending = stack[-1]
        child = next((n for n in pending if n not in discovered), None)
        if child is None:
            stack.pop()
            order.append(library)
            continue
        discovered.add(child)
        stack.append((child, iter(needed_of(child))))
    return order


def fini_order(root: str, needed_of: NeededOf) -> list[str]:
    """The reverse of ``init_order``: the program first, each library before what it needs."""
    return init_order(root, needed_of)[::-1]
