"""Libraries loaded at run time: the monitor's side of ``<dlfcn.h>`` (the runtime's ``twzemu/sdk/rt/dl.c``).

A compartment's C library asks, through twzemu's own system calls (``abi.RuntimeCall``):

* **dlopen** (path): the library is found like a ``DT_NEEDED`` name (or opened by its path), linked into the
  caller's compartment with what it needs that the compartment lacks (``Linker.load``: checked, placed in free slot
  pairs, relocated against the compartment's libraries first), mapped wherever the compartment's objects are
  (``CompartmentBuilder.add_images``), its return sites added to the crossing engine's; the answer is a handle and
  its initialisers, which the runtime runs, and the TLS modules of the new libraries that have TLS (the
  compartment's next module ids), which the runtime adds to its own (a thread's block comes on its first access).
  A library the compartment has already (loaded with the program, or opened before) gives a handle to it, and
  only the first opening runs initialisers.
* **dlsym** (handle, name, caller): the address of a symbol the handle's library or what it needs defines (the
  handle ``RTLD_DEFAULT``: the compartment's global scope, in load order; ``RTLD_NEXT``: what follows the library
  holding ``caller``); for a thread-local one, its
  module and offset (the runtime asks ``__tls_get_addr`` for the calling thread's address); not found there,
  another compartment's gate of that name (calling it is a crossing); never another compartment's other symbols.
* **dladdr** (address): the library of the caller's compartment holding it (its path as found, its base) and the
  exported symbol holding it, as glibc chooses it; another compartment's addresses are named to nobody.
* **dlclose** (handle): the last one gives the finalisers of what that handle loaded (the runtime runs them); the
  code stays mapped (a pointer into it may outlive the handle) and a later dlopen maps it again where it was, its
  data as loaded, and hands over its initialisers again (one with TLS is loaded anew: its module's blocks are
  gone with it).

A handle is only the compartment's that opened it: another compartment's is an invalid handle. Failures are
``-errno`` with the reason written into the caller's gate buffer (``dlerror``).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..abi import DLSYM_TLS, TLS_LOADED_MAX, TLS_LOADED_WORDS, TLS_MODULE_WORDS, RuntimeCall
from ..elf.callsites import return_sites
from ..errors import TwzEmuError
from ..linker.link import FIRST_SLOT, LinkedCompartment, LinkedLibrary, LinkedProgram, Linker, LoadedLater
from ..linker.lookup import exports_of
from ..linker.symbols import Symbolizer
from ..linker.tls import TLS_MODULES_MAX
from ..machine.engine import CrossingEngine
from ..mmu.space import Access
from ..security.ids import CompartmentId
from .compartments import CompartmentBuilder
from .crossing import Client, CompartmentState
from .layout import MAX_COMPARTMENTS, THREAD_INFO_SLOT
from .syscalls import read_string

EINVAL, ENOENT, ENOEXEC, ENOMEM, EFAULT = 22, 2, 8, 12, 14
NAME_MAX = 4096
MAX_DLADDR = 1 << 16  # bytes of a dladdr answer's buffer, at most
MAX_FUNCTIONS = 1 << 16  # initialisers or finalisers one call hands over, at most
LOADS_PER_COMPARTMENT = 64  # images a compartment may load at run time (their slots are never given back)
RTLD_NEXT = (1 << 64) - 1
OWN_SCOPE = 1  # dlopen(NULL)'s and dlopen("")'s handle: the compartment's libraries, as RTLD_DEFAULT
RTLD_NOLOAD, RTLD_GLOBAL = 4, 256  # dlopen's mode bits the monitor acts on (RTLD_LOCAL is 0: the default)


@dataclass(slots=True)
class Handle:
    """What one dlopen'd name gave a compartment: the library, what was loaded with it, how many opens are left."""

    compartment: int
    library: LinkedLibrary
    loaded: tuple[LinkedLibrary, ...]  # what this opening loaded (empty: the compartment had it already)
    fini: tuple[int, ...]
    count: int = 1
    initialiser: int | None = None  # the thread running its initialisers (until the runtime says they ran)
    init: tuple[int, ...] = ()  # the initialisers of what it loaded (run again if it is opened again)
    isolated: int | None = None  # the library is this compartment of its own (dlsym finds its gates alone)


@dataclass(frozen=True, slots=True)
class _Request:
    """One dlopen, as the runtime asked it: who asks, where its answer goes, and its mode."""

    client: Client
    compartment: LinkedCompartment
    table: int  # the initialisers' table (capacity entries after its count)
    capacity: int
    modules: int  # struct twz_tls_loaded (module_capacity modules)
    module_capacity: int
    mode: int


class DynamicLoading:
    """The three calls, for one run (``calls``: number -> handler, served by ``SystemCalls``)."""

    def __init__(
        self,
        linker: Linker | None,
        linked: LinkedProgram,
        states: dict[int, CompartmentState],
        builder: CompartmentBuilder,
        engine: CrossingEngine,
        symbols: Symbolizer,
        reply: Callable[[bytes], None],
        changed: Callable[[], None] = lambda: None,
        thread: Callable[[], int] = lambda: 1,
        retry_later: Callable[[str], bool] = lambda what: False,
        made: Callable[[LoadedLater, frozenset[int]], object] | None = None,
    ) -> None:
        self.linker = linker
        self.compartments = {c.id: c for c in linked.compartments}
        self.everything = list(linked.libraries)
        self.gates = list(linked.gates)
        self._gates_by_name = {gate.name: gate for gate in linked.gates}
        self.states = states
        self.builder = builder
        self.engine = engine
        self.symbols = symbols
        self.reply = reply
        self.changed = changed  # told when the libraries change (a debugger reloads its list)
        self.thread = thread  # the running thread's id
        self.retry_later = retry_later  # parks the caller until another thread had a turn, then calls again
        self.made = made  # builds a compartment a library with gates needs (with its return sites); None: refused
        self.handles: dict[int, Handle] = {}
        self._next_handle = 0x10  # never 0 (RTLD_DEFAULT) nor a small number a program might forge by accident
        self._next_slot = FIRST_SLOT + 2 * len(self.everything)
        self._loads: dict[int, int] = {}  # compartment -> images it loaded at run time
        self._payer: dict[int, int] = {}  # a compartment made at run time -> whose share its loads use
        # compartment -> the names of the libraries dlopen loaded RTLD_LOCAL (not RTLD_GLOBAL): out of its global
        # scope (RTLD_DEFAULT, and what later loads bind to unless they need them)
        self._local: dict[int, set[str]] = {}
        self._closed: dict[int, list[Handle]] = {}  # compartment -> what the last dlclose of a handle unloaded

    @property
    def calls(self) -> dict[int, Callable[[Client, tuple[int, ...]], int | None]]:
        return {RuntimeCall.DLOPEN: self._open, RuntimeCall.DLSYM: self._symbol, RuntimeCall.DLCLOSE: self._close,
                RuntimeCall.DLREADY: self._ready, RuntimeCall.DLADDR: self._address}  # fmt: skip

    def _fail(self, errno: int, why: str) -> int:
        self.reply(why.encode("utf-8", "replace")[:4000] + b"\0")
        return -errno

    # -- dlopen --------------------------------------------------------------------------------------------

    def _open(self, client: Client, args: tuple[int, ...]) -> int | None:
        path, table, capacity, modules = args[0], args[1], args[2], args[3]
        module_capacity, mode = args[4] & 0xFFFF_FFFF, args[4] >> 32  # the runtime packs dlopen's mode above
        compartment = self.compartments.get(client.id)
        if compartment is None or self.linker is None:
            return self._fail(EINVAL, "dlopen: this compartment cannot load libraries")
        name = read_string(client.space, path, NAME_MAX)
        if isinstance(name, int):
            return self._fail(-name, "dlopen: the library's name is not readable")
        if capacity > MAX_FUNCTIONS or not client.space.user_may(table, 8 * (capacity + 1), Access.WRITE):
            return self._fail(EFAULT, "dlopen: no room for the initialisers' table")
        room = 8 * (TLS_LOADED_WORDS + TLS_MODULE_WORDS * module_capacity)
        if module_capacity > TLS_LOADED_MAX or not client.space.user_may(modules, room, Access.WRITE):
            return self._fail(EFAULT, "dlopen: no room for the TLS modules' table")
        request = _Request(client, compartment, table, capacity, modules, module_capacity, mode)
        if not name:  # as glibc: the program, as NULL is (the compartment's own scope)
            return self._answer(request, OWN_SCOPE)
        have = self._already(compartment, name)
        if have is not None:
            return self._open_again(request, name, have)
        isolated = self._isolated_named(name, compartment.id)
        if isolated is not None:  # a compartment of its own already: a handle to its gates
            return self._answer(request, Handle(compartment.id, isolated.libraries[0], (), (), isolated=isolated.id))
        if mode & RTLD_NOLOAD:
            return 0  # not loaded, and not to be: the runtime's dlopen gives NULL (dlerror has nothing to say)
        if self._wait_for_loading(compartment.id, None):
            return None  # the call is made again once another thread had a turn
        closed = self._closed_named(compartment, name)
        if closed is not None:
            return self._reopen(request, closed)
        return self._load(request, name)

    def _answer(self, request: _Request, handle: Handle | int, loaded: LoadedLater | None = None) -> int:
        """The caller's handle (a number for OWN_SCOPE), with the initialisers and TLS modules of what was loaded
        now (none: nothing was)."""
        self._write_table(request.client, request.table, handle.init if isinstance(handle, Handle) else ())
        self._write_modules(request.client, request.modules, loaded)
        return handle if isinstance(handle, int) else self._new_handle(handle)

    def _open_again(self, request: _Request, name: str, have: LinkedLibrary) -> int | None:
        """A library the compartment has: a handle to it (``RTLD_GLOBAL`` brings it, and what it needs, into the
        global scope), once another thread that is running its initialisers is done."""
        compartment = request.compartment
        if request.mode & RTLD_GLOBAL:
            promoted = (library.name for library in self._needed_by(compartment, have))
            self._local.get(compartment.id, set()).difference_update(promoted)
        opening = self._opened(compartment.id, have)
        busy = opening is not None and opening.initialiser not in (None, self.thread())
        if busy and opening is not None and self.retry_later(f"for {name}'s initialisers (T{opening.initialiser})"):
            return None  # the call is made again once another thread had a turn
        return self._answer(request, Handle(compartment.id, have, (), ()))

    def _load(self, request: _Request, name: str) -> int:
        """Load ``name`` and what it needs (``Linker.load``), into the caller's compartment or one of its own."""
        compartment, linker = request.compartment, self.linker
        assert linker is not None
        images = self._next_slot
        payer = self._payer.get(compartment.id, compartment.id)  # a compartment dlopen made loads on its opener's
        used = self._loads.get(payer, 0)
        # a compartment's own share of the run's free slots: none may take them all (slots are never given back)
        last = min(THREAD_INFO_SLOT, images + 2 * (LOADS_PER_COMPARTMENT - used))
        most = min(TLS_MODULES_MAX, len(compartment.tls.blocks) + request.module_capacity)
        new = max(self.states) + 1 if self.made is not None and max(self.states) + 1 < MAX_COMPARTMENTS else None
        try:
            hidden = frozenset(self._local.get(compartment.id, ()))
            loaded = linker.load(name, compartment, self.everything, self.gates, self._names(), images, last, most,
                                 None if new is None else CompartmentId(new), hidden)  # fmt: skip
        except TwzEmuError as error:
            return self._fail(ENOENT, str(error))  # it names the file
        if loaded.compartment is not None:
            return self._made(request, loaded, payer, used)
        if len(loaded.init) > request.capacity:
            return self._fail(ENOMEM, f"dlopen {name}: more initialisers than the runtime can run")
        self._next_slot = images + 2 * len(loaded.libraries)
        self._loads[payer] = used + len(loaded.libraries)
        state = self.states[compartment.id]
        self.builder.add_images(state, [library.loaded for library in loaded.libraries])
        self.engine.add_return_sites(compartment.id, self._add_symbols(loaded))
        self.everything += loaded.libraries
        self.compartments[compartment.id] = dataclasses.replace(
            compartment, libraries=compartment.libraries + loaded.libraries, tls=loaded.tls
        )
        if not request.mode & RTLD_GLOBAL:
            self._local.setdefault(compartment.id, set()).update(library.name for library in loaded.libraries)
        self.changed()
        handle = Handle(compartment.id, loaded.libraries[0], loaded.libraries, loaded.fini, initialiser=self.thread(),
                        init=loaded.init)  # fmt: skip
        return self._answer(request, handle, loaded)

    def _closed_named(self, compartment: LinkedCompartment, name: str) -> Handle | None:
        """What a last dlclose unloaded whose library ``name`` names, if none of it is loaded again since."""
        present = {library.name for library in compartment.libraries}
        for handle in self._closed.get(compartment.id, ()):
            if _names(handle.library, name) and not any(library.name in present for library in handle.loaded):
                return handle
        return None

    def _reopen(self, request: _Request, closed: Handle) -> int:
        """A library opened again after its last dlclose: the same images, in the same slots (slots are never given
        back), their data as it was loaded, its initialisers run again."""
        if len(closed.init) > request.capacity:
            return self._fail(ENOMEM, f"dlopen {closed.library.name}: more initialisers than the runtime can run")
        compartment = request.compartment
        self._closed[compartment.id].remove(closed)
        self.builder.reset_images(library.loaded for library in closed.loaded)
        self.compartments[compartment.id] = dataclasses.replace(
            compartment, libraries=compartment.libraries + closed.loaded
        )
        if not request.mode & RTLD_GLOBAL:
            self._local.setdefault(compartment.id, set()).update(library.name for library in closed.loaded)
        self.changed()
        return self._answer(request, dataclasses.replace(closed, count=1, initialiser=self.thread()))

    def _made(self, request: _Request, loaded: LoadedLater, payer: int, used: int) -> int:
        """A library with gates loaded as a compartment of its own: built, and a handle to it for the caller (its
        initialisers run on the first crossing into it, its finalisers at exit). What it loads later comes out of
        the same share as it did (``payer``'s): a chain of compartments cannot take more than its first opener."""
        compartment = loaded.compartment
        assert compartment is not None and self.made is not None
        self._next_slot += 2 * len(loaded.libraries)
        self._loads[payer] = used + len(loaded.libraries)
        self._payer[compartment.id] = payer
        self.made(loaded, self._add_symbols(loaded))
        self.everything += loaded.libraries
        self.gates += loaded.gates
        self._gates_by_name.update((gate.name, gate) for gate in loaded.gates)
        self.compartments[compartment.id] = compartment
        self.changed()
        return self._answer(request, Handle(request.client.id, loaded.libraries[0], (), (), isolated=compartment.id))

    def _add_symbols(self, loaded: LoadedLater) -> frozenset[int]:
        """The new images' symbols for reports; their return sites."""
        sites: frozenset[int] = frozenset()
        for library in loaded.libraries:
            self.symbols.add(library.loaded)
            sites |= return_sites(library.loaded.image, library.base)
        return sites

    def _already(self, compartment: LinkedCompartment, name: str) -> LinkedLibrary | None:
        """The library ``name`` names if the compartment has it (by the name it was needed as, or its file's)."""
        return next((library for library in compartment.libraries if _names(library, name)), None)

    def _isolated_named(self, name: str, caller: int) -> LinkedCompartment | None:
        """Another compartment whose library with gates ``name`` names (loaded with the program or by a dlopen)."""
        for compartment in self.compartments.values():
            root = compartment.libraries[0] if compartment.libraries else None
            if compartment.id != caller and root is not None and root.gates and _names(root, name):
                return compartment
        return None

    def _wait_for_loading(self, compartment: int, library: LinkedLibrary | None) -> bool:
        """Whether the caller waits (parked, its call made again later) for another thread's dlopen in its
        compartment that its runtime has not finished (its TLS modules added, its initialisers run): of ``library``
        (a dlsym found it), or of anything (another dlopen, which may need it). True: parked."""
        me = self.thread()
        for handle in self.handles.values():
            if (
                handle.compartment == compartment
                and handle.initialiser not in (None, me)
                and (library is None or any(loaded is library for loaded in handle.loaded))
            ):
                return self.retry_later(f"for {handle.library.name} to be loaded (T{handle.initialiser} loads it)")
        return False

    def _opened(self, compartment: int, library: LinkedLibrary) -> Handle | None:
        return next((h for h in self.handles.values() if h.compartment == compartment and h.library is library), None)

    def _ready(self, client: Client, args: tuple[int, ...]) -> int:
        """The runtime ran the initialisers dlopen handed it: other threads' dlopen of the library go on."""
        handle = self.handles.get(args[0])
        if handle is not None and handle.compartment == client.id and handle.initialiser == self.thread():
            handle.initialiser = None
        return 0

    def _names(self) -> dict[int, str]:
        return {c: state.name for c, state in self.states.items()}

    def _new_handle(self, handle: Handle) -> int:
        for number, open_ in self.handles.items():  # the same library opened again: the same handle, counted
            if open_.compartment == handle.compartment and open_.library is handle.library:
                open_.count += 1
                return number
        number, self._next_handle = self._next_handle, self._next_handle + 1
        self.handles[number] = handle
        return number

    # -- dlsym ---------------------------------------------------------------------------------------------

    def _symbol(self, client: Client, args: tuple[int, ...]) -> int | None:
        number, address = args[0], args[1]
        name = read_string(client.space, address, NAME_MAX)
        if isinstance(name, int):
            return self._fail(-name, "dlsym: the symbol's name is not readable")
        compartment = self.compartments.get(client.id)
        if compartment is None:
            return self._fail(EINVAL, "dlsym: this compartment has no libraries")
        if number in (0, OWN_SCOPE, RTLD_NEXT):  # the global scope
            local = self._local.get(client.id, set())
            scope = tuple(library for library in compartment.libraries if library.name not in local)
            if number == RTLD_NEXT:  # what follows the library dlsym was called from (an interposer's own is next)
                scope = _after(compartment.libraries, scope, args[3])
        else:
            handle = self.handles.get(number)
            if handle is None or handle.compartment != client.id:
                return self._fail(EINVAL, f"dlsym: invalid library handle {number:#x}")
            if handle.isolated is not None:  # a compartment of its own: only its gates
                gate = self._gates_by_name.get(name)
                if gate is None or gate.owner != handle.isolated:
                    return self._undefined(handle.library, name)
                return gate.entry
            scope = self._needed_by(compartment, handle.library)
        for library in scope:
            symbol = exports_of(library.info).get(name)
            if symbol is not None and self._wait_for_loading(client.id, library):
                return None  # the call is made again once another thread had a turn
            if symbol is not None and symbol.kind.name == "TLS":  # its value is an offset: 0 is one
                return self._tls_symbol(client, args[2], library, symbol.value)
            if symbol is not None and (symbol.value or symbol.absolute):
                return symbol.address(library.base)
        gate = self._gates_by_name.get(name)
        if gate is not None and gate.owner != client.id:
            return gate.entry
        root = handle.library if number not in (0, OWN_SCOPE, RTLD_NEXT) else compartment.libraries[0]
        return self._undefined(root, name)

    def _undefined(self, library: LinkedLibrary, name: str) -> int:
        """dlsym found nothing: dlerror's words are glibc's (the object searched, or the caller's for RTLD_DEFAULT)."""
        return self._fail(ENOENT, f"{library.loaded.image.path}: undefined symbol: {name}")

    # -- dladdr --------------------------------------------------------------------------------------------

    def _address(self, client: Client, args: tuple[int, ...]) -> int:
        """The library of the caller's compartment ``address`` lies in, and the exported symbol holding it (glibc's
        choice: the nearest at or below it whose extent covers it, or one of size 0 exactly there), as
        ``struct twz_dladdr``; 0 when no library of the compartment holds it (another compartment's are not
        named to it)."""
        address, out, capacity = args[0], args[1], args[2]
        compartment = self.compartments.get(client.id)
        if compartment is None:
            return 0
        library = next((lib for lib in compartment.libraries if lib.loaded.contains(address)), None)
        if library is None:
            return 0
        offset = address - library.base
        best: tuple[int, str] | None = None
        for name, symbol in exports_of(library.info).items():
            if symbol.absolute or symbol.kind.name in ("TLS", "SECTION", "FILE") or not symbol.value:
                continue
            covers = offset < symbol.value + symbol.size if symbol.size else offset == symbol.value
            if symbol.value <= offset and covers and (best is None or symbol.value > best[0]):
                best = (symbol.value, name)
        names = library.loaded.image.path.encode("utf-8", "surrogateescape") + b"\0"
        names += (best[1].encode() if best else b"") + b"\0"
        record = struct.pack("<2Q", library.base, library.base + best[0] if best else 0) + names
        if capacity < len(record) or capacity > MAX_DLADDR or not client.space.user_may(out, len(record), Access.WRITE):
            return self._fail(EFAULT, "dladdr: no room for the answer")
        client.space.write_virtual(out, record)
        return 1

    def _tls_symbol(self, client: Client, index: int, library: LinkedLibrary, offset: int) -> int:
        """A thread-local symbol: its module and offset into the caller's ``tls_mod_off_t[2]``."""
        if library.tls_module is None:
            return self._fail(ENOENT, f"dlsym: {library.name} has thread-local symbols but no TLS segment")
        if not client.space.user_may(index, 16, Access.WRITE):
            return self._fail(EFAULT, "dlsym: no room for a thread-local symbol's module and offset")
        client.space.write_virtual(index, struct.pack("<2Q", library.tls_module, offset))
        return DLSYM_TLS

    @staticmethod
    def _needed_by(compartment: LinkedCompartment, root: LinkedLibrary) -> list[LinkedLibrary]:
        """``root`` and what it needs, breadth-first, as the compartment has them."""
        by_name = {library.name: library for library in compartment.libraries}
        order, queue = [root], [root]
        while queue:
            library = queue.pop(0)
            for needed in library.info.needed:
                found = by_name.get(needed)
                if found is not None and found not in order:
                    order.append(found)
                    queue.append(found)
        return order

    # -- dlclose -------------------------------------------------------------------------------------------

    def _close(self, client: Client, args: tuple[int, ...]) -> int:
        number, table, capacity, at_exit = args[0], args[1], args[2], args[3]
        handle = self.handles.get(number)
        if handle is None or handle.compartment != client.id:  # (at exit: closed already, nothing left to run)
            return self._fail(EINVAL, f"dlclose: invalid library handle {number:#x}")
        if (len(handle.fini) > capacity or capacity > MAX_FUNCTIONS
                or not client.space.user_may(table, 8 * (capacity + 1), Access.WRITE)):  # fmt: skip
            return self._fail(EFAULT, "dlclose: no room for the finalisers' table")
        handle.count = 0 if at_exit else handle.count - 1
        if handle.count > 0:
            self._write_table(client, table, ())
            return 0
        del self.handles[number]
        if handle.isolated is not None:  # a compartment of its own stays (its finalisers run at exit)
            self._write_table(client, table, ())
            return 0
        compartment = self.compartments[handle.compartment]
        heir = self._still_needing(compartment, handle)
        if heir is not None:  # what it loaded is still in use: it goes with the handle that needs it
            heir.loaded += handle.loaded
            heir.fini = handle.fini + heir.fini
            self._write_table(client, table, ())
            return 0
        gone = set(map(id, handle.loaded))  # a later dlopen of the library maps them again (anew, if TLS)
        remaining = tuple(library for library in compartment.libraries if id(library) not in gone)
        if handle.loaded and not any(library.tls_module for library in handle.loaded):
            self._closed.setdefault(handle.compartment, []).append(handle)
        self.compartments[handle.compartment] = dataclasses.replace(compartment, libraries=remaining)
        self._local.get(handle.compartment, set()).difference_update(library.name for library in handle.loaded)
        self._write_table(client, table, handle.fini)
        if handle.loaded:
            self.changed()
        return 0

    def _still_needing(self, compartment: LinkedCompartment, closing: Handle) -> Handle | None:
        """An open handle of the compartment whose library needs one of those ``closing`` loaded (then they stay
        loaded, and are finalised when that handle closes, as a dynamic linker counts references)."""
        loaded = set(map(id, closing.loaded))
        for handle in self.handles.values():
            if handle.compartment == closing.compartment and any(
                id(library) in loaded for library in self._needed_by(compartment, handle.library)
            ):
                return handle
        return None

    @staticmethod
    def _write_table(client: Client, table: int, functions: tuple[int, ...]) -> None:
        client.space.write_virtual(table, struct.pack(f"<{len(functions) + 1}Q", len(functions), *functions))

    @staticmethod
    def _write_modules(client: Client, at: int, loaded: LoadedLater | None) -> None:
        """``struct twz_tls_loaded``: the first new module's id, how many, and each (its image the library's own,
        relocated ``.tdata``; its offset where a thread the C library creates from now on has its block)."""
        libraries = loaded.tls_modules if loaded is not None else ()
        words = [libraries[0].tls_module or 0 if libraries else 0, len(libraries)]
        for library in libraries:
            template, module = library.info.tls, library.tls_module
            assert loaded is not None and template is not None and module is not None
            block = loaded.tls.block_of(module)
            words += [library.base + template.vaddr, template.filesz, template.memsz, block.align, block.tp_offset]
        client.space.write_virtual(at, struct.pack(f"<{len(words)}Q", *words))


def _names(library: LinkedLibrary, name: str) -> bool:
    """Whether dlopen's ``name`` names ``library`` (the name it was needed as, its file's, or its path)."""
    return name in (library.name, library.loaded.name) or (
        "/" in name and Path(name).resolve() == Path(library.loaded.image.path).resolve()
    )


def _after(
    libraries: tuple[LinkedLibrary, ...], scope: tuple[LinkedLibrary, ...], caller: int
) -> tuple[LinkedLibrary, ...]:
    """RTLD_NEXT: the libraries of ``scope`` that follow, in load order, the one holding ``caller`` (all of them
    if no library of the compartment holds it)."""
    holder = next((position for position, library in enumerate(libraries) if library.loaded.contains(caller)), None)
    if holder is None:
        return scope
    later = {id(library) for library in libraries[holder + 1 :]}
    return tuple(library for library in scope if id(library) in later)
