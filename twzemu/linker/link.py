"""The dynamic linker: a program and its libraries become relocated objects in slot pairs.

``Linker.link(program)`` follows these steps (the code below is in the same order):

1. **find** — the program, then every ``DT_NEEDED`` library breadth-first, each file once; then **check** each
   file before anything is placed (DESIGN.md "Gate crossing"; every problem of every file in one ``LinkError``):
   names beginning ``__twz_monitor_`` are the monitor's services, so a file that defines one or declares a
   gate of that name is refused; a declared gate must be an exported function (``STT_FUNC``) defined in the
   file itself (not ``SHN_ABS``/``SHN_COMMON``), lying wholly in one of the file's own executable ``PT_LOAD``
   segments (above the null page), and take at most six arguments;
2. **compartments** — a library that declares secure gates (``elf.gates``) starts a compartment of its own,
   named ``program::soname``; every other library joins its user's compartment, where it is loaded once and
   shared by its users; each compartment gets its own copy of the runtime (``libtwzrt.so``);
3. **place** — instance *k* (compartments in order, libraries breadth-first within each) gets the slot pair
   (2k + 2, 2k + 3); its ``PT_LOAD`` segments are copied into a text and a data object;
4. **TLS** — per compartment, libraries with a ``PT_TLS`` segment get module ids 1, 2, … and static blocks
   below the thread pointer (variant II, ``tls.layout_static_tls``);
5. **relocate** — every relocation of every table through the x86-64 recipe table (``relocs``), symbols by
   Twizzler's lookup order (``lookup``) within the compartment; a symbol of another compartment is visible only
   if it is a gate there, and then binds to the gate's entry (calling it is a crossing); each such
   (compartment, gate) pair is a ``GateBinding``, which the monitor uses to decide what a caller may see of its
   callee. A reference to a ``__twz_monitor_*`` name never reaches lookup: it binds to the monitor's own service
   (compartment 0's gate) or nothing. Every problem — a missing symbol, an unsupported relocation type, an
   overflow — is collected and reported in one ``LinkError``;
6. **order** — per compartment: ``DT_PREINIT_ARRAY`` of the program, then per library in depth-first
   post-order (``graph.init_order``) ``DT_INIT`` and ``DT_INIT_ARRAY``, the root last; fini is the reverse.

Nothing here touches the CPU: the result is objects plus the addresses the monitor maps and starts.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..elf.dynamic import (
    SHN_ABS,
    SHN_COMMON,
    SHN_LORESERVE,
    DynamicInfo,
    DynReloc,
    DynSymbol,
    SymbolBind,
    SymbolKind,
    TlsTemplate,
)
from ..elf.gates import GateRecord, read_gate_records
from ..elf.image import ElfImage, SegmentFlags
from ..elf.parameters import parameter_counts
from ..elf.relocs import RelocType, reloc_name
from ..errors import LinkError, LinkErrorKind, UsageError
from ..loader import SLOT_SIZE, LoadedImage, build_objects, slot_base
from ..objects.layout import NULL_PAGE_SIZE, U64_MASK
from ..objects.object import Object
from ..objects.store import ObjectStore
from ..security.gates import ARGUMENT_REGISTERS, GATE_ALIGNMENT, Gate
from ..security.ids import PROGRAM as PROGRAM_COMPARTMENT
from ..security.ids import CompartmentId
from .graph import init_order, load_order
from .lookup import Library, SymbolLookup, exported_symbols, exports_of
from .relocs import RelocInputs, compute
from .search import LibrarySearch
from .tls import TLS_MODULES_MAX, TlsBlock, TlsLayout, layout_static_tls

FIRST_SLOT = 2
#: The monitor's services (``monitor.services``, declared in ``twzemu/sdk/rt/twz_runtime.h``) are named so; no
#: file may define or declare a gate of such a name, and references to them bind only to the monitor's gates
#: (issue 8, hole 2).
MONITOR_PREFIX = "__twz_monitor_"
_U64 = struct.Struct("<Q")


def reserved(name: str) -> bool:
    """Whether ``name`` belongs to the monitor (``MONITOR_PREFIX``)."""
    return name.startswith(MONITOR_PREFIX)


@dataclass(frozen=True, slots=True)
class LinkedLibrary:
    """One loaded instance: its name as needed (the program: its path), its compartment, where it is."""

    name: str
    compartment: CompartmentId
    info: DynamicInfo
    loaded: LoadedImage
    tls_module: int | None
    gates: tuple[GateRecord, ...] = ()

    @property
    def base(self) -> int:
        return self.loaded.base


@dataclass(frozen=True, slots=True)
class GateBinding:
    """Compartment ``caller`` has a relocation bound to gate ``gate`` of another compartment (the monitor's
    included): it may call it, and it is the only way it reaches that compartment."""

    caller: CompartmentId
    gate: str


@dataclass(frozen=True, slots=True)
class LinkedCompartment:
    id: CompartmentId
    name: str
    libraries: tuple[LinkedLibrary, ...]  # breadth-first from the compartment's root
    tls: TlsLayout
    init: tuple[int, ...]  # addresses, in call order
    fini: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class IsolationPolicy:
    """``twzemu run --isolate NAME`` / ``--no-isolate NAME`` (``DT_NEEDED`` names)."""

    isolate: frozenset[str] = frozenset()
    no_isolate: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkedProgram:
    compartments: tuple[LinkedCompartment, ...]  # [0] is the program's (id 1)
    gates: tuple[Gate, ...]
    relocations: int
    warnings: tuple[str, ...] = ()  # what links but may not be what the user meant, one line each
    bindings: frozenset[GateBinding] = frozenset()  # which compartment is bound to which other compartment's gate

    @property
    def libraries(self) -> tuple[LinkedLibrary, ...]:
        return tuple(lib for compartment in self.compartments for lib in compartment.libraries)

    @property
    def program(self) -> LinkedLibrary:
        return self.compartments[0].libraries[0]

    @property
    def entry(self) -> int:
        return self.program.loaded.entry

    @property
    def tls(self) -> TlsLayout:
        return self.compartments[0].tls

    @property
    def init(self) -> tuple[int, ...]:
        return self.compartments[0].init

    @property
    def fini(self) -> tuple[int, ...]:
        return self.compartments[0].fini


@dataclass(frozen=True, slots=True)
class _Instance:
    """One loaded instance of a library: a library is loaded once per compartment that uses it."""

    compartment: CompartmentId
    library: str  # its name as needed (the program: its path)


_Records = dict[str, tuple[GateRecord, ...]]


@dataclass(frozen=True, slots=True)
class LoadedLater:
    """What ``Linker.load`` added at run time (``dlopen``): the new libraries (the one asked for first, then what it
    needs that the compartment did not have), and their initialisers and finalisers in order; when the library is
    a compartment of its own, that compartment and its gates."""

    libraries: tuple[LinkedLibrary, ...]
    init: tuple[int, ...]
    fini: tuple[int, ...]
    tls: TlsLayout  # the compartment's TLS with the modules of the new libraries that have TLS, after its others
    compartment: LinkedCompartment | None = None  # a compartment of its own (the library declares gates)
    gates: tuple[Gate, ...] = ()  # its gates
    bindings: frozenset[GateBinding] = frozenset()  # the new libraries' references bound to other compartments' gates

    @property
    def tls_modules(self) -> tuple[LinkedLibrary, ...]:
        """The new libraries with TLS, in the order of their module ids."""
        return tuple(sorted((lib for lib in self.libraries if lib.tls_module), key=lambda lib: lib.tls_module or 0))


class Linker:
    """Links one program against the libraries ``search`` finds, creating its objects in ``store``."""

    def __init__(
        self,
        search: LibrarySearch,
        store: ObjectStore,
        policy: IsolationPolicy | None = None,
        monitor_gates: Mapping[str, Gate] | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        self.search = search
        self.store = store
        self.policy = policy or IsolationPolicy()
        self.monitor_gates = dict(monitor_gates or {})  # compartment 0's services, bound like any gate
        self.preload = tuple(preload)  # libraries loaded as if the program needed them (``twzemu call``)
        self._program = ""

    def _needed(self, user: str, info: DynamicInfo) -> tuple[str, ...]:
        """A file's ``DT_NEEDED`` names; the program's also name the libraries preloaded for it."""
        return (*info.needed, *self.preload) if user == self._program else info.needed

    def link(self, program: ElfImage, name: str) -> LinkedProgram:
        self._program = name
        files, infos = self._find(program, name)
        records = {lib_name: read_gate_records(image) for lib_name, image in files.items()}
        arities = _check(files, infos, records)
        members, names = self._compartments(name, files, infos, records)
        instances = self._place(members, files, infos, records)
        layouts = {
            c: layout_static_tls([_tls_template(instances[k]) for k in keys if instances[k].tls_module])
            for c, keys in members.items()
        }
        gates = {**self.monitor_gates, **self._gates(instances, arities)}  # no library gate has a monitor's name
        count, bindings = self._relocate(members, instances, layouts, gates, names)
        compartments = []
        for c, keys in members.items():
            init, fini = self._init_fini(keys, instances, with_preinit=c == PROGRAM_COMPARTMENT)
            compartments.append(
                LinkedCompartment(c, names[c], tuple(instances[k] for k in keys), layouts[c], init, fini)
            )
        return LinkedProgram(tuple(compartments), tuple(gates.values()), count, _warnings(files), bindings)

    def load(
        self,
        name: str,
        compartment: LinkedCompartment,
        everything: Sequence[LinkedLibrary],
        gates: Sequence[Gate],
        names: Mapping[int, str],
        first_slot: int,
        last_slot: int,
        tls_modules: int = TLS_MODULES_MAX,
        new_compartment: CompartmentId | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> LoadedLater:
        """Load library ``name`` (found like a ``DT_NEEDED`` name, or a path) at run time, with what it needs, into
        slot pairs from ``first_slot`` (up to ``last_slot``, exclusive): checked as at link time, placed, relocated,
        its initialisers ordered. ``everything``: every library of the run (to explain a symbol another
        compartment defines); ``gates``: every gate of the run.

        A library that declares no gates joins ``compartment`` (the caller's) with what it needs that the
        compartment lacks, relocated against the compartment's libraries first (the global scope, as a dynamic
        linker resolves a library loaded later). A library with TLS gets the compartment's next module id (up to
        ``tls_modules`` in all), reached through ``__tls_get_addr`` only: an initial-exec reference to it
        (``TPOFF64``) is refused, as the C library refuses one. The compartment's libraries in ``hidden`` (loaded
        with ``RTLD_LOCAL``) bind nothing of the new ones unless one needs them, or a library not hidden does.

        A library that declares gates is a compartment of its own, ``new_compartment`` (None: refused), as at link
        time: with its own copy of what it needs and of the runtime, its own TLS, its gates; what it needs that is
        another compartment's library with gates is reached through those gates. What it creates before it fails
        is removed again."""
        # libraries that are compartments of their own (their gates reach them): never loaded again
        elsewhere = {lib.name for lib in everything if lib.gates and lib.compartment != PROGRAM_COMPARTMENT}
        root = self._find_later(name)
        isolated = bool(read_gate_records(root))
        if isolated and new_compartment is None:
            raise LinkError(f"{root.path}: declares gates, so it would be a compartment of its own: loading one "
                            "here is not supported", LinkErrorKind.UNSUPPORTED)  # fmt: skip
        have = set(elsewhere) if isolated else {library.name for library in compartment.libraries} | elsewhere
        files: dict[str, ElfImage] = {name: root}
        infos: dict[str, DynamicInfo] = {name: DynamicInfo.read(root)}
        queue = deque(infos[name].needed)
        runtime = self.search.runtime_name
        if isolated and runtime:
            queue.append(runtime)  # every compartment has its own runtime
        while queue:
            wanted = queue.popleft()
            if wanted in have or wanted in files:
                continue
            files[wanted] = self._find_later(wanted)
            infos[wanted] = DynamicInfo.read(files[wanted])
            queue.extend(infos[wanted].needed)
        records = {lib_name: read_gate_records(image) for lib_name, image in files.items()}
        arities = _check(files, infos, records)
        target = compartment
        if isolated:
            assert new_compartment is not None
            label = f"{names[PROGRAM_COMPARTMENT]}::{infos[name].soname or Path(name).name}"
            target = LinkedCompartment(new_compartment, label, (), layout_static_tls([]), (), ())
        problems = []
        for lib_name, image in files.items():
            if records[lib_name] and lib_name != name:
                problems.append(f"{image.path}: declares gates, so it would be a compartment of its own: dlopen it "
                                "before what needs it")  # fmt: skip
            if infos[lib_name].textrel:
                problems.append(f"{image.path}: text relocations (DF_TEXTREL) are not supported")
            tls = infos[lib_name].tls
            if not isolated and tls is not None and tls.memsz and not _in_a_segment(image, tls.vaddr, tls.filesz):
                # the C library copies a module loaded later from its image in memory: it must be the library's
                problems.append(f"{image.path}: its TLS image ({tls.vaddr:#x}, {tls.filesz} bytes) is not in a "
                                "loaded segment of its file")  # fmt: skip
        if isolated and target.name in names.values():
            problems.append(f"{root.path}: its compartment would be called {target.name}, as another already is")
        if first_slot + 2 * len(files) > last_slot:
            problems.append(f"no room for {len(files)} more images (each a slot pair) in this run")
        with_tls = sum(1 for info in infos.values() if info.tls is not None and info.tls.memsz)
        if len(target.tls.blocks) + with_tls > tls_modules:
            problems.append(f"{name}: no room for {with_tls} more TLS modules in {target.name} "
                            f"({tls_modules} at most)")  # fmt: skip
        if problems:
            raise LinkError(problems, LinkErrorKind.UNSUPPORTED)
        made: list[Object] = []
        try:
            return self._load_placed(files, infos, records, arities, target, everything, gates, names, first_slot,
                                     isolated, made, hidden)  # fmt: skip
        except BaseException:
            for obj in made:  # nothing of a load that failed stays
                self.store.remove(obj.id)
            raise

    def _find_later(self, wanted: str) -> ElfImage:
        """A library asked for at run time, by a ``DT_NEEDED``-like name or a path in a library directory."""
        if "/" in wanted and not self._in_library_directory(wanted):
            where = "not in a library directory (the -L directories and the program's)"
            raise LinkError(f"{wanted}: {where}", LinkErrorKind.LIBRARY_NOT_FOUND)
        image = self.search.find(wanted)
        if image is None:  # dlerror's words are glibc's
            raise LinkError(f"{wanted}: cannot open shared object file: No such file or directory",
                            LinkErrorKind.LIBRARY_NOT_FOUND)  # fmt: skip
        return image

    def _load_placed(
        self,
        files: dict[str, ElfImage],
        infos: dict[str, DynamicInfo],
        records: _Records,
        arities: dict[str, dict[str, int]],
        compartment: LinkedCompartment,
        everything: Sequence[LinkedLibrary],
        gates: Sequence[Gate],
        names: Mapping[int, str],
        first_slot: int,
        isolated: bool,
        made: list[Object],
        hidden: frozenset[str] = frozenset(),
    ) -> LoadedLater:
        added = []
        templates = []
        for index, lib_name in enumerate(files):
            slot = first_slot + 2 * index
            text, data = build_objects(self.store, files[lib_name], made)
            loaded = LoadedImage(files[lib_name], Path(lib_name).name, slot_base(slot), text, data, slot)
            info = infos[lib_name]
            module = None
            if info.tls is not None and info.tls.memsz:
                templates.append(info.tls)
                module = len(compartment.tls.blocks) + len(templates)
            added.append(LinkedLibrary(lib_name, compartment.id, info, loaded, module, records[lib_name]))
        tls = compartment.tls.extended(templates, static=isolated)  # a new compartment's TLS is all static
        keys = [_Instance(compartment.id, library.name) for library in (*compartment.libraries, *added)]
        instances = {_Instance(library.compartment, library.name): library for library in everything}
        instances.update({_Instance(compartment.id, library.name): library for library in added})
        new_gates = self._gates({_Instance(compartment.id, lib.name): lib for lib in added}, arities)
        clash = [f"gate {n} is declared by two compartments" for n in new_gates if any(g.name == n for g in gates)]
        if clash:
            raise LinkError(clash, LinkErrorKind.BAD_GATE)
        seen = _needed_closure([k.library for k in keys if k.library not in hidden] + [added[0].name],
                               {k.library: instances[k].info.needed for k in keys})  # fmt: skip
        keys = [key for key in keys if key.library in seen]  # the global scope and the new library's own
        local = {key.library for key in keys}
        names = {**names, compartment.id: compartment.name}
        bindings: set[GateBinding] = set()
        scope = _Scope(
            compartment.id,
            {key.library: instances[key] for key in keys},
            SymbolLookup([_lookup_library(instances[key], local) for key in keys]),
            tls,
            {**{gate.name: gate for gate in gates}, **new_gates},
            bindings,
            _Elsewhere(compartment.id, instances, dict(names)),
        )
        problems_found = [
            p for library in added for r in library.info.relocations if (p := self._apply(library, r, scope))
        ]
        if problems_found:
            raise LinkError(problems_found)
        new_keys = [_Instance(compartment.id, library.name) for library in added]
        init, fini = self._init_fini(new_keys, instances, with_preinit=False)
        linked = None
        if isolated:
            linked = LinkedCompartment(compartment.id, compartment.name, tuple(added), tls, init, fini)
        return LoadedLater(tuple(added), init, fini, tls, linked, tuple(new_gates.values()), frozenset(bindings))

    def _in_library_directory(self, path: str) -> bool:
        """Whether ``path`` (a guest's dlopen with a slash, relative to twzemu's directory) is a file in one of the
        library directories: a guest may not read the host's other files as libraries."""
        where = Path(path).resolve().parent
        return any(where == directory.resolve() for directory in self.search.directories)

    # 1. find --------------------------------------------------------------------------------------------

    def _find(self, program: ElfImage, name: str) -> tuple[dict[str, ElfImage], dict[str, DynamicInfo]]:
        """Every file the program loads (breadth-first, ``graph.load_order``) and its dynamic section, read once;
        every library that cannot be found is reported at once, with each user that needs it."""
        files = {name: program}
        infos: dict[str, DynamicInfo] = {}
        missing: dict[str, list[str]] = {}  # library -> the users that need it
        runtime = self.search.runtime_name

        def needed_of(user: str) -> Sequence[str]:
            if user not in files:
                return ()  # not found: nothing to follow
            infos[user] = DynamicInfo.read(files[user])
            needed = (*self._needed(user, infos[user]), *([runtime] if runtime and user == name else []))
            for library in needed:
                if library in missing:
                    missing[library].append(user)
                elif library not in files:
                    image = self.search.find(library)
                    if image is not None:
                        files[library] = image
                    elif library != runtime or user != name:
                        missing[library] = [user]
            return needed

        load_order(name, needed_of)
        if missing:
            where = ", ".join(str(d) for d in self.search.directories)
            raise LinkError(
                [
                    f"library not found: {library} (needed by {user}); searched {where} and the object store"
                    for library, users in missing.items()
                    for user in users
                ],
                LinkErrorKind.LIBRARY_NOT_FOUND,
            )
        return files, infos

    # 2. compartments ------------------------------------------------------------------------------------

    def _compartments(
        self, program: str, files: dict[str, ElfImage], infos: dict[str, DynamicInfo], records: _Records
    ) -> tuple[dict[int, list[_Instance]], dict[int, str]]:
        self._check_policy(files, records)
        base = Path(program).name
        runtime = self.search.runtime_name
        isolated: dict[str, CompartmentId] = {}
        members: dict[int, list[_Instance]] = {PROGRAM_COMPARTMENT: [_Instance(PROGRAM_COMPARTMENT, program)]}
        names = {PROGRAM_COMPARTMENT: base}
        queue = deque(members[PROGRAM_COMPARTMENT])
        seen = set(queue)
        while queue:
            instance = queue.popleft()
            compartment, user = instance.compartment, instance.library
            for needed in self._needed(user, infos[user]):
                target = compartment
                if needed != program and self._isolated(needed, records):
                    if needed not in isolated:
                        isolated[needed] = CompartmentId(len(members) + 1)
                        members[isolated[needed]] = []
                        name = f"{base}::{infos[needed].soname or needed}"
                        if name in names.values():  # names key reports, files and mounts: one each
                            raise LinkError(
                                f"{files[needed].path}: its soname {infos[needed].soname!r} names compartment "
                                f"{name}, which another library's compartment is already called",
                                LinkErrorKind.UNSUPPORTED,
                            )
                        names[isolated[needed]] = name
                    target = isolated[needed]
                key = _Instance(target, needed)
                if key not in seen:
                    seen.add(key)
                    members[target].append(key)
                    queue.append(key)
        for compartment, keys in members.items():  # every compartment gets its own runtime
            if runtime in files and _Instance(compartment, runtime) not in keys:
                keys.append(_Instance(compartment, runtime))
        return members, names

    def _isolated(self, name: str, records: dict[str, tuple[GateRecord, ...]]) -> bool:
        if name in self.policy.no_isolate:
            return False
        return bool(records[name]) or name in self.policy.isolate

    def _check_policy(self, files: dict[str, ElfImage], records: dict[str, tuple[GateRecord, ...]]) -> None:
        problems = [f"--isolate {n}: no library of that name is loaded" for n in self.policy.isolate if n not in files]
        problems += [
            f"--isolate {n}: {files[n].path} declares no gates, so nothing could call into it"
            for n in self.policy.isolate
            if n in files and not records[n]
        ]
        problems += [
            f"--no-isolate {n}: no library of that name is loaded" for n in self.policy.no_isolate if n not in files
        ]
        if problems:
            raise UsageError(problems)

    # 3. place -------------------------------------------------------------------------------------------

    def _place(
        self,
        members: dict[int, list[_Instance]],
        files: dict[str, ElfImage],
        infos: dict[str, DynamicInfo],
        records: dict[str, tuple[GateRecord, ...]],
    ) -> dict[_Instance, LinkedLibrary]:
        placed: dict[_Instance, LinkedLibrary] = {}
        index = 0
        for compartment, keys in members.items():
            module = 0
            for key in keys:
                lib_name = key.library
                info = infos[lib_name]
                if info.textrel:
                    raise LinkError(
                        f"{files[lib_name].path}: text relocations (DF_TEXTREL) are not supported: "
                        "build with -fPIC (twzemu cc does)",
                        LinkErrorKind.UNSUPPORTED,
                    )
                slot = FIRST_SLOT + 2 * index
                index += 1
                text, data = build_objects(self.store, files[lib_name])
                loaded = LoadedImage(files[lib_name], Path(lib_name).name, slot_base(slot), text, data, slot)
                tls_module = None
                if info.tls is not None and info.tls.memsz:
                    module += 1
                    tls_module = module
                placed[key] = LinkedLibrary(lib_name, compartment, info, loaded, tls_module, records[lib_name])
        return placed

    def _gates(self, instances: dict[_Instance, LinkedLibrary], arities: dict[str, dict[str, int]]) -> dict[str, Gate]:
        """Gate name -> its entry: the declared name bound to the library's own definition (``_check`` proved it
        is a function in the library's own code)."""
        gates: dict[str, Gate] = {}
        problems = []
        for library in instances.values():
            exports = exports_of(library.info)
            for record in library.gates:
                if record.name in gates and gates[record.name].owner != library.compartment:
                    problems.append(f"gate {record.name} is declared by two compartments")
                    continue
                symbol = exports[record.name]
                gate = Gate(
                    record.name,
                    CompartmentId(library.compartment),
                    library.base + symbol.value,
                    max(symbol.size, 1),
                    GATE_ALIGNMENT,
                    record.level,
                    arities[library.name][record.name],
                    library.name,
                )
                gates.setdefault(record.name, gate)
        if problems:
            raise LinkError(problems, LinkErrorKind.BAD_GATE)
        return gates

    # 5. relocate ----------------------------------------------------------------------------------------

    def _relocate(
        self,
        members: dict[int, list[_Instance]],
        instances: dict[_Instance, LinkedLibrary],
        layouts: dict[int, TlsLayout],
        gates: dict[str, Gate],
        names: dict[int, str],
    ) -> tuple[int, frozenset[GateBinding]]:
        problems: list[LinkError] = []
        count = 0
        bindings: set[GateBinding] = set()
        for compartment, keys in members.items():
            local = {key.library for key in keys}
            lookup = SymbolLookup([_lookup_library(instances[k], local) for k in keys])
            scope = _Scope(
                compartment,
                {k.library: instances[k] for k in keys},
                lookup,
                layouts[compartment],
                gates,
                bindings,
                _Elsewhere(compartment, instances, names),
            )
            for key in keys:
                library = instances[key]
                for reloc in library.info.relocations:
                    problem = self._apply(library, reloc, scope)
                    if problem is not None:
                        problems.append(problem)
                    count += 1
        if problems:
            raise LinkError(problems)
        return count, frozenset(bindings)

    def _apply(self, library: LinkedLibrary, reloc: DynReloc, scope: _Scope) -> LinkError | None:
        symbol = library.info.symbols[reloc.r_sym] if reloc.r_sym else None
        inputs = self._inputs(library, reloc, symbol, scope)
        if isinstance(inputs, LinkError):
            return _problem(library, reloc, inputs.text, inputs.kind)
        try:
            value, width = compute(reloc.r_type, inputs)
        except LinkError as error:  # names the type itself
            return LinkError(f"{library.loaded.image.path}: relocation at {reloc.r_offset:#x}: {error}", error.kind)
        problem = _write(library, reloc.r_offset, value, width)
        return None if problem is None else _problem(library, reloc, problem)

    def _inputs(
        self, library: LinkedLibrary, reloc: DynReloc, symbol: DynSymbol | None, scope: _Scope
    ) -> RelocInputs | LinkError:
        base = library.base
        inputs = dict(S=0, A=reloc.r_addend, P=base + reloc.r_offset, B=base, Z=0, module=0, dtp_offset=0, tp_offset=0)
        if symbol is None:
            if reloc.r_type in _TLS_TYPES and library.tls_module is not None:  # local-dynamic: this module
                block = scope.tls.block_of(library.tls_module)
                if (problem := _not_static(block, reloc, library.name)) is not None:
                    return problem
                inputs.update(module=library.tls_module, tp_offset=-block.tp_offset)
            return RelocInputs(**inputs)
        if reserved(symbol.name):  # the monitor's service or nothing: never what the compartment's lookup finds
            return self._bind(scope, self.monitor_gates.get(symbol.name), symbol, inputs)
        if symbol.defined and symbol.bind is SymbolBind.LOCAL:
            owner, value, size = library, symbol.st_value, symbol.st_size
            base = 0 if symbol.st_shndx == SHN_ABS else owner.base
        else:
            found = scope.lookup.find(library.name, symbol.name)
            if found is None:
                gate = scope.gates.get(symbol.name)
                return self._bind(
                    scope, gate if gate is None or gate.owner != scope.compartment else None, symbol, inputs
                )
            if found.symbol.kind is SymbolKind.GNU_IFUNC:
                return LinkError(
                    f"symbol {symbol.name} is an indirect function (STT_GNU_IFUNC) in {found.library.name}: "
                    "not supported (twzemu does not run guest resolvers while linking)",
                    LinkErrorKind.UNSUPPORTED,
                )
            owner = scope.libraries[found.library.name]
            value, size = found.symbol.value, found.symbol.size
            base = 0 if found.symbol.absolute else owner.base  # SHN_ABS: as it is (as glibc since 2.28)
        if symbol.kind is SymbolKind.TLS or reloc.r_type in _TLS_TYPES:
            if owner.tls_module is None:
                return LinkError(f"symbol {symbol.name} is thread-local but {owner.name} has no TLS segment")
            block = scope.tls.block_of(owner.tls_module)
            if (problem := _not_static(block, reloc, owner.name)) is not None:
                return problem
            inputs.update(module=owner.tls_module, dtp_offset=value, tp_offset=-block.tp_offset, S=value)
        else:
            inputs.update(S=base + value)
        inputs.update(Z=size)
        return RelocInputs(**inputs)

    @staticmethod
    def _bind(scope: _Scope, gate: Gate | None, symbol: DynSymbol, inputs: dict[str, int]) -> RelocInputs | LinkError:
        """A reference bound to another compartment's gate (a call there is a crossing), recorded as a binding;
        without one, an undefined weak reference resolves to 0 (psABI) and a strong one is an error."""
        if gate is not None:
            scope.bindings.add(GateBinding(scope.compartment, gate.name))
            inputs.update(S=gate.entry, Z=gate.length)
            return RelocInputs(**inputs)
        if symbol.bind is SymbolBind.WEAK:
            return RelocInputs(**inputs)
        owner = scope.elsewhere.definer(symbol.name)
        why = "" if owner is None else f" (defined in {owner}, but not a gate)"
        return LinkError(f"undefined symbol {symbol.name}{why}", LinkErrorKind.UNDEFINED_SYMBOL)

    # 6. order -------------------------------------------------------------------------------------------

    def _init_fini(
        self, keys: list[_Instance], instances: dict[_Instance, LinkedLibrary], with_preinit: bool
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        by_name = {key.library: instances[key] for key in keys}
        root = by_name[keys[0].library]
        init = _array(root, root.info.preinit_array_at, root.info.preinit_array_count) if with_preinit else []
        fini: list[int] = []
        for lib_name in init_order(root.name, lambda n: [m for m in self._needed(n, by_name[n].info) if m in by_name]):
            library = by_name[lib_name]
            info = library.info
            if info.init is not None:
                init.append(library.base + info.init)
            init += _array(library, info.init_array_at, info.init_array_count)
            object_fini = list(reversed(_array(library, info.fini_array_at, info.fini_array_count)))
            if info.fini is not None:
                object_fini.append(library.base + info.fini)
            fini[:0] = object_fini
        return tuple(init), tuple(fini)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What relocations in one compartment can bind to."""

    compartment: CompartmentId
    libraries: dict[str, LinkedLibrary]
    lookup: SymbolLookup
    tls: TlsLayout
    gates: dict[str, Gate]
    bindings: set[GateBinding]  # filled while relocating: (this compartment, a gate of another one)
    elsewhere: _Elsewhere


class _Elsewhere:
    """The other compartments, asked only to explain an undefined symbol: one they define is invisible here because
    only their gates cross (DESIGN.md "Concepts"). Their exports are indexed on the first question."""

    def __init__(self, compartment: int, instances: dict[_Instance, LinkedLibrary], names: dict[int, str]) -> None:
        self.compartment = compartment
        self.instances = instances
        self.names = names
        self._definers: dict[str, str] | None = None

    def definer(self, name: str) -> str | None:
        """The first other compartment that exports ``name``, as reports name it (``prog::libfoo.so``)."""
        if self._definers is None:
            self._definers = {}
            for library in self.instances.values():
                if library.compartment != self.compartment:
                    for export in exports_of(library.info):
                        self._definers.setdefault(export, self.names[library.compartment])
        return self._definers.get(name)


def _check(
    files: Mapping[str, ElfImage], infos: Mapping[str, DynamicInfo], records: _Records
) -> dict[str, dict[str, int]]:
    """Step 1's check (module docstring): every problem of every file, at once, before anything is placed; the
    result is each file's gates with the argument registers each takes."""
    problems: list[LinkError] = []
    arities: dict[str, dict[str, int]] = {}
    for lib_name, image in files.items():
        declared = [record.name for record in records[lib_name]]
        taken = _reserved_names(infos[lib_name], declared)
        problems += [
            LinkError(
                f"{image.path}: {'declares gate' if n in declared else 'defines'} {n}: names beginning "
                f"{MONITOR_PREFIX} are reserved for the monitor's services",
                LinkErrorKind.RESERVED_NAME,
            )
            for n in taken
        ]
        gates = [n for n in dict.fromkeys(declared) if n not in taken]
        counts = parameter_counts(image, gates) if gates else {}
        exports = exported_symbols(infos[lib_name])
        arities[lib_name] = {gate: counts.get(gate, ARGUMENT_REGISTERS) for gate in gates}
        problems += [
            LinkError(f"{image.path}: gate {gate} {problem}", LinkErrorKind.BAD_GATE)
            for gate in gates
            if (problem := _gate_problem(image, exports.get(gate), arities[lib_name][gate]))
        ]
    if problems:
        raise LinkError(problems)
    return arities


def _reserved_names(info: DynamicInfo, declared: Sequence[str]) -> list[str]:
    """The monitor's names a file takes: gates it declares, then symbols it defines (any binding: an exported
    one would win its own compartment's lookup), each once."""
    defined = (symbol.name for symbol in info.symbols if symbol.defined)
    return [name for name in dict.fromkeys([*declared, *defined]) if reserved(name)]


_SPECIAL_SECTIONS = {SHN_ABS: "SHN_ABS", SHN_COMMON: "SHN_COMMON"}


def _gate_problem(image: ElfImage, symbol: DynSymbol | None, arity: int) -> str | None:
    """What is wrong with a declared gate whose exported definition is ``symbol`` (the rest of a line that starts
    with the file and the gate); ``None`` if it may be a gate. Its entry must be a function of the file's own
    code: a value the file merely names (absolute, common, past its code, in its data) could be anything,
    another library's private function included, which would then fault as a "crossing" from its own callers."""
    if symbol is None or symbol.kind is not SymbolKind.FUNC:
        return "is declared but no exported function of that name is defined"
    if symbol.st_shndx >= SHN_LORESERVE:
        section = _SPECIAL_SECTIONS.get(symbol.st_shndx, f"{symbol.st_shndx:#x}")
        return f"is not defined in the file itself (section index {section})"
    start, end = symbol.st_value, symbol.st_value + max(symbol.st_size, 1)
    if not any(
        SegmentFlags.X in segment.p_flags
        and max(segment.p_vaddr, NULL_PAGE_SIZE) <= start
        and end <= segment.p_vaddr + segment.p_memsz
        for segment in image.segments
    ):
        return f"at {start:#x}..{end:#x} is not inside an executable segment of the file"
    if arity > ARGUMENT_REGISTERS:
        return f"takes {arity} arguments; a gate takes at most {ARGUMENT_REGISTERS}, in registers"
    return None


def _needed_closure(roots: Sequence[str], needed: Mapping[str, Sequence[str]]) -> set[str]:
    """``roots`` and every library they need, directly or not, among those ``needed`` knows."""
    seen: set[str] = set()
    queue = deque(roots)
    while queue:
        name = queue.popleft()
        if name in seen or name not in needed:
            continue
        seen.add(name)
        queue.extend(needed[name])
    return seen


def _lookup_library(library: LinkedLibrary, local: set[str]) -> Library:
    """The library as the compartment's lookup sees it: dependencies in other compartments are not searched."""
    return Library(library.name, tuple(n for n in library.info.needed if n in local), exports_of(library.info))


_TLS_TYPES = frozenset({RelocType.DTPMOD64, RelocType.DTPOFF64, RelocType.TPOFF64})


def _in_a_segment(image: ElfImage, vaddr: int, length: int) -> bool:
    """Whether ``length`` bytes at ``vaddr`` lie in the file-backed part of one of ``image``'s ``PT_LOAD`` segments."""
    return any(s.p_vaddr <= vaddr and vaddr + length <= s.p_vaddr + s.p_filesz for s in image.segments)


def _not_static(block: TlsBlock, reloc: DynReloc, owner: str) -> LinkError | None:
    """An offset from the thread pointer (initial-exec, ``TPOFF64``) into a module loaded at run time, whose block
    is not at one fixed offset in every thread: refused, as musl's dynamic linker refuses it."""
    if reloc.r_type != RelocType.TPOFF64 or block.static:
        return None
    return LinkError(f"{owner}'s TLS was loaded at run time: the initial-exec model cannot reach it (build with "
                     "-fPIC's default, general-dynamic model)", LinkErrorKind.UNSUPPORTED)  # fmt: skip


def _tls_template(library: LinkedLibrary) -> TlsTemplate:
    template = library.info.tls
    assert template is not None
    return template


def _problem(
    library: LinkedLibrary, reloc: DynReloc, what: str, kind: LinkErrorKind = LinkErrorKind.RELOCATION
) -> LinkError:
    """One line naming the file, the relocation and what is wrong (built only when something is)."""
    return LinkError(f"{library.loaded.image.path}: {reloc_name(reloc.r_type)} at {reloc.r_offset:#x}: {what}", kind)


def _write(library: LinkedLibrary, r_offset: int, value: int, width: int) -> str | None:
    """Store a relocation's result; what is wrong with it otherwise (the caller names the relocation)."""
    obj, offset = library.loaded.locate(r_offset)
    if obj is library.loaded.text and width:
        return "writes the read-only text (text relocations are not supported: build with -fPIC)"
    if not NULL_PAGE_SIZE <= offset <= SLOT_SIZE - width:
        return "lies outside the image"
    if width:
        obj.write(offset, value.to_bytes(width, "little"))
    return None


def _array(library: LinkedLibrary, at: int | None, count: int) -> list[int]:
    """Function pointers of an init/fini array, read after relocation (entries are RELATIVE-relocated)."""
    if at is None or count == 0:
        return []
    obj, offset = library.loaded.locate(at)
    raw = obj.read(offset, 8 * count)
    return [value for (value,) in _U64.iter_unpack(raw) if value not in (0, U64_MASK)]


def _warnings(files: Mapping[str, ElfImage]) -> tuple[str, ...]:
    """Gates are declared in a section (``.twz_secgate_info``): a file without section headers may declare gates
    nobody can see, and would then run unisolated in its user's compartment without a word."""
    return tuple(
        f"{image.path}: no section headers, so no gate it may declare can be found: it is linked as a plain library"
        for image in files.values()
        if image.section_count == 0
    )
