"""The dynamic linker: how a program and its libraries become one linked, runnable set of objects.

Linking flows in five steps, each a module (nouns are modules, verbs are functions):

1. **graph** (``graph.load_order``) — read the program's ``DynamicInfo`` (``twzemu.elf.dynamic``), find each
   ``DT_NEEDED`` library, breadth-first, each file once: a library loaded once is shared by its users;
2. **placement** — library *k* in load order gets a slot pair (text object R-X, data object RW-); its TLS
   segment, if any, becomes TLS module *k'* with a block below the thread pointer (x86-64 TLS variant II);
3. **lookup** (``lookup.SymbolLookup``) — each symbol a relocation names binds to a definition by Twizzler's
   order: the referring library, its dependencies breadth-first, then every library in load order; weak
   definitions as ``lookup`` documents; an undefined weak reference is 0;
4. **relocation** (``relocs.compute``) — each relocation's type selects a recipe from the x86-64 table
   (psABI table 4.9): field width, formula over S, A, P, B, Z and the TLS offsets, and the range the exact
   value must fit; unsupported types and overflows are problems named by type and place, and every problem
   of a link is reported together in one ``LinkError``;
5. **init order** (``graph.init_order``) — constructors run depth-first post-order, dependencies before their
   users and the program last; destructors (``graph.fini_order``) run in the reverse order.

Everything here is pure Python: it computes values and orders, and never touches the CPU.
"""
