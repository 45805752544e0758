"""The dynamic linker: how a program and its libraries become one linked, runnable set of objects.

``link.Linker.link`` follows six numbered steps (its docstring and code go in the same order); the modules here
are its nouns:

* ``search`` — finds a library by its ``DT_NEEDED`` name (``-L`` directories, the program's directory, the
  store's names, the runtime's directory — the runtime itself only from there);
* ``graph`` — the breadth-first load order (step 1) and the depth-first post-order of initialisers (step 6);
* ``tls`` — static TLS blocks below the thread pointer, x86-64 variant II (step 4);
* ``lookup`` — Twizzler's symbol lookup order within a compartment: the referring library, its dependencies
  breadth-first, then every library of the compartment; weak definitions as ``lookup`` documents (step 5);
* ``relocs`` — the x86-64 recipe table (psABI table 4.9): field width, formula over S, A, P, B, Z and the TLS
  offsets, and the range the exact value must fit; unsupported types and overflows are problems named by type
  and place, and every problem of a link is reported together in one ``LinkError`` (step 5).

Everything here is pure Python: it computes values and orders, and never touches the CPU.
"""
