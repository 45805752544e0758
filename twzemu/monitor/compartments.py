"""Compartments at run time: a linked compartment becomes security contexts and address spaces (one CR3 each).

Each compartment owns objects: its images' text (R-X) and data (RW-), a stack, a heap, a thread area (TCB and
static TLS) and a gate buffer, in the slots ``layout`` gives them. Its *memory* — what the trust table can let
another compartment see — is the writable ones but the gate buffer: data, stack, heap, thread area. From
these the builder makes (DESIGN.md "What each side sees"):

1. **its own page tables** (``CompartmentState.space``): its objects, plus the memory of every callee it is
   bound to (the linker knows the bindings) when every gate of that callee it is bound to runs at a level that
   lets the caller see the callee (``levels.compartment_rules``); it runs in them outside crossings, and as the
   callee of a crossing whose level hides the caller from it;
2. **its page tables for one trusting caller** (``pair_space``, built on the first crossing that needs them):
   the same, plus that caller's memory; it runs in them only while it is the callee of a live crossing from
   that caller at a level that lets the callee see the caller (``none`` or ``callee``). The trust table grants
   all or nothing (read and write), so one set per (callee, caller) serves every such level.

No compartment ever maps another's text, and nobody maps another's gate buffer: each sees its own at the same
address, and the crossing engine carries messages between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..abi import THREAD_INFO_CALLER_OFFSET
from ..errors import MappingError, MonitorError
from ..linker.link import LinkedCompartment
from ..linker.symbols import Region
from ..linker.tls import TlsLayout, align_up, layout_static_tls
from ..loader import SLOT_SIZE, LoadedImage, ObjectBacking, ObjectGrant, image_grants, slot_base
from ..machine.engine import ThreadPart
from ..machine.machine import Machine
from ..mmu.pte import Prot
from ..mmu.space import NULL_PAGE_SIZE, SLOT_SHIFT, AddressSpace, FrameCache
from ..objects.layout import PAGE_SIZE
from ..objects.object import Lifetime, Object
from ..objects.store import ObjectStore
from ..security.capability import Capability
from ..security.context import SecurityContext
from ..security.gates import IsolationLevel
from ..security.ids import CompartmentId
from .crossing import CompartmentState, context_of
from .hypercalls import Heap
from .layout import (
    FIRST_THREAD,
    GATE_BUFFER,
    GATE_BUFFER_SLOT,
    MONITOR_TEXT_SLOT,
    STACK_STRIDE,
    THREAD_INFO,
    THREAD_INFO_SLOT,
    gate_buffer_of,
    heap_slot,
    stack_bounds,
    stack_slot,
    thread_info_of,
    thread_slot,
)
from .startup import build_thread_area, thread_info

_RW = Prot.READ | Prot.WRITE
_RX = Prot.READ | Prot.EXEC


@dataclass(frozen=True, slots=True)
class CompartmentObjects:
    """What a compartment owns: every object it maps as its own, and the part of them that is its memory."""

    own: tuple[ObjectGrant, ...]
    memory: tuple[ObjectGrant, ...]


@dataclass(frozen=True, slots=True)
class PlacedObject:
    """An object a guest mapped (``monitor/objects.py``), with the rights it asked for."""

    backing: ObjectBacking
    prot: Prot


class CompartmentBuilder:
    """Builds every compartment's contexts and address spaces for one run."""

    def __init__(self, machine: Machine, store: ObjectStore) -> None:
        assert machine.frames is not None
        self.machine = machine
        self.store = store
        self.cache = FrameCache(machine.frames)
        self.contexts: dict[str, SecurityContext] = {}  # by space name, for --verbose
        self.owners: dict[int, str] = {GATE_BUFFER_SLOT: "gate buffer"}  # slot -> owner, for reports
        self.regions: list[Region] = []  # names of the objects it creates, for reports
        self.objects: dict[str, Object] = {}  # label -> object, for --verbose
        self._owned: dict[int, CompartmentObjects] = {}
        self._granted: dict[int, list[ObjectGrant]] = {}  # compartment -> what it sees of its callees
        self._pairs: dict[tuple[int, int], AddressSpace] = {}
        self._seen_by: dict[int, list[tuple[CompartmentState, Prot]]] = {}  # callee -> callers granted its memory
        self._names: dict[int, str] = {}
        self._tls: dict[int, tuple[TlsLayout, int]] = {}  # compartment -> its TLS, and the size of a thread area
        self.placed: dict[int, dict[int, PlacedObject]] = {}  # compartment -> slot -> a guest's object there

    # -- own objects -------------------------------------------------------------------------------------

    def compartment(
        self,
        linked: LinkedCompartment,
        caller_level: IsolationLevel,
        return_sites: frozenset[int],
        init: tuple[int, ...],
    ) -> CompartmentState:
        """A linked compartment: its images, then its own objects, in its own address space; ``init`` are the
        initialisers the monitor runs in it (none for the program, whose ``_start`` runs its own)."""
        own = []
        for library in linked.libraries:
            loaded = library.loaded
            own += image_grants(loaded)
            self.owners[loaded.text_slot] = self.owners[loaded.text_slot + 1] = linked.name
        return self._build(linked.id, linked.name, own, linked.tls, caller_level, return_sites, init)

    def monitor(self, text: Object) -> CompartmentState:
        """Compartment 0: the monitor's generated gate code, a stack, a heap nobody grows, and a TCB (no TLS)."""
        self.owners[MONITOR_TEXT_SLOT] = "monitor"
        own = [ObjectGrant(MONITOR_TEXT_SLOT, ObjectBacking(text), _RX)]
        return self._build(0, "monitor", own, layout_static_tls([]), IsolationLevel.NONE, frozenset(), ())

    def _build(
        self,
        compartment: int,
        name: str,
        own: list[ObjectGrant],
        tls: TlsLayout,
        caller_level: IsolationLevel,
        return_sites: frozenset[int],
        init: tuple[int, ...],
    ) -> CompartmentState:
        """Add the stack, heap, thread area and gate buffer to ``own`` and map them all in a new space."""
        memory = [grant for grant in own if grant.prot & Prot.WRITE]
        heap = Heap(slot_base(heap_slot(compartment)) + NULL_PAGE_SIZE, SLOT_SIZE - 2 * NULL_PAGE_SIZE)
        thread = build_thread_area(slot_base(thread_slot(compartment)) + NULL_PAGE_SIZE, tls)
        self._tls[compartment] = tls, align_up(len(thread.data) + tls.align, PAGE_SIZE)
        for slot, label, content in (
            (stack_slot(compartment), f"{name}:stack", None),
            (heap_slot(compartment), f"{name}:heap", None),
            (thread_slot(compartment), f"{name}:thread", (thread.base, thread.data)),
        ):
            essential = slot == thread_slot(compartment)
            guards = STACK_STRIDE // PAGE_SIZE if slot == stack_slot(compartment) else 0
            memory.append(ObjectGrant(slot, self._fresh(slot, label, content, essential, guards), _RW))
            self.owners[slot] = name
        buffer = ObjectGrant(GATE_BUFFER_SLOT, self._fresh(GATE_BUFFER_SLOT, f"{name}:gate buffer", None), _RW)
        first = thread_info(FIRST_THREAD, GATE_BUFFER, THREAD_INFO)
        info = self._fresh(THREAD_INFO_SLOT, f"{name}:thread info", (THREAD_INFO, first))
        private = (buffer, ObjectGrant(THREAD_INFO_SLOT, info, Prot.READ))
        objects = CompartmentObjects(tuple(own) + tuple(g for g in memory if g not in own) + private, tuple(memory))
        self._owned[compartment] = objects
        self._names[compartment] = name
        self._granted[compartment] = []
        space = self._space(name, objects.own)
        base, top = stack_bounds(compartment)
        return CompartmentState(
            compartment, name, space, base, top, heap, thread.thread_pointer, return_sites, caller_level, init
        )

    def _fresh(self, slot: int, label: str, content: tuple[int, bytes] | None, essential: bool = True,
               guard_stride: int = 0) -> ObjectBacking:  # fmt: skip
        """A new volatile object for ``slot``, with ``content`` (virtual address, bytes) written into it;
        a stack's or a heap's is not ``essential`` (it may not take the frames kept for images); a stack's
        pages at multiples of ``guard_stride`` are never backed."""
        obj = self.store.create(lifetime=Lifetime.VOLATILE)
        if content is not None:
            at, data = content
            obj.write(at - slot_base(slot), data)
        if slot not in (GATE_BUFFER_SLOT, THREAD_INFO_SLOT):
            self.regions.append(Region(label, slot_base(slot), slot_base(slot + 1)))
        self.objects[label] = obj
        return ObjectBacking(obj, essential, guard_stride)

    def _space(self, name: str, grants: Iterable[ObjectGrant]) -> AddressSpace:
        """A new address space holding exactly ``grants``, its security context in step; the gate buffer's page
        is present from the start (the crossing engine rewrites its entry)."""
        space = self.machine.new_space(self.cache, name)
        context = SecurityContext(CompartmentId(len(self.contexts)), name)
        self.contexts[name] = context
        for grant in grants:
            context.grant(Capability(grant.backing.key, grant.prot))
            eager = (NULL_PAGE_SIZE >> 12,) if grant.slot == GATE_BUFFER_SLOT else ()
            space.map_object(grant.slot, grant.backing, context.prot_of(grant.backing.key), eager)
        return space

    # -- libraries loaded at run time ----------------------------------------------------------------------

    def add_images(self, state: CompartmentState, images: Iterable[LoadedImage]) -> None:
        """Images loaded into ``state`` at run time (``dlopen``): its own objects from now on, in every set of page
        tables that maps what it owns (its own, and its page tables for trusting callers), and their data in every
        set that sees its memory (its callees' for it as a trusting caller, callers granted its memory). Code is
        translated again from now on: the frames and addresses of a library closed before may be this one's."""
        own = [grant for loaded in images for grant in image_grants(loaded)]
        memory = [grant for grant in own if grant.prot & Prot.WRITE]
        self.machine.flush_translations()  # frames a closed library's code held may hold this code now
        for loaded in images:
            self.owners[loaded.text_slot] = self.owners[loaded.text_slot + 1] = state.name
        objects = self._owned[state.id]
        self._owned[state.id] = CompartmentObjects(objects.own + tuple(own), objects.memory + tuple(memory))
        places: list[tuple[AddressSpace, list[ObjectGrant]]] = [(state.space, own)]
        for (callee, caller), space in self._pairs.items():
            if callee == state.id:
                places.append((space, own))
            elif caller == state.id:
                places.append((space, [ObjectGrant(g.slot, g.backing, _RW) for g in memory]))
        for caller, prot in self._seen_by.get(state.id, ()):
            places.append((caller.space, [ObjectGrant(g.slot, g.backing, prot) for g in memory]))
        for space, grants in places:
            context = self.contexts[space.name]
            for grant in grants:
                context.grant(Capability(grant.backing.key, grant.prot))
                space.map_object(grant.slot, grant.backing, context.prot_of(grant.backing.key))

    # -- objects guests map (monitor/objects.py) ----------------------------------------------------------

    def place_object(self, state: CompartmentState, slot: int, backing: ObjectBacking, prot: Prot | None) -> None:
        """A guest's object in ``slot`` of every set of page tables ``state``'s code runs in (its own, and those for
        its trusting callers, now and later), with ``prot``; None: unmapped from them all."""
        placed = self.placed.setdefault(state.id, {})
        if prot is None:
            placed.pop(slot, None)
        else:
            placed[slot] = PlacedObject(backing, prot)
        spaces = [state.space, *(space for (callee, _), space in self._pairs.items() if callee == state.id)]
        for space in spaces:
            self._place(space, slot, backing, prot)

    def _place(self, space: AddressSpace, slot: int, backing: ObjectBacking, prot: Prot | None) -> None:
        context = self.contexts[space.name]
        mapped = space.mapping_at(slot << SLOT_SHIFT)
        if mapped is not None:
            if mapped.backing.key != backing.key:
                raise MappingError(f"{space.name}: slot {slot:#x} holds another object")
            context.revoke(backing.key)
            space.unmap_slot(slot)
        if prot is not None:
            context.grant(Capability(backing.key, prot))
            space.map_object(slot, backing, context.prot_of(backing.key))

    def reset_images(self, images: Iterable[LoadedImage]) -> None:
        """Images loaded again (a library reopened after its last dlclose): their data as it was loaded."""
        for loaded in images:
            frames = self.cache.get(loaded.data.id)
            if frames is not None:
                frames.reset()

    # -- threads -----------------------------------------------------------------------------------------

    def thread_part(
        self, state: CompartmentState, index: int, thread_id: int, thread_pointer: int | None
    ) -> ThreadPart:
        """Thread ``index`` (id ``thread_id``)'s own part in ``state``: its stack, its thread information and gate
        buffer (cleared), and a thread area laid out as the first thread's unless ``thread_pointer`` says where
        the compartment's libc put the thread's own."""
        space = state.space
        tls, stride = self._tls[state.id]
        if thread_pointer is None and (index + 1) * stride > SLOT_SIZE - NULL_PAGE_SIZE:
            raise MonitorError(
                f"{state.name}'s thread-local storage ({stride >> 10} KiB a thread) leaves room for "
                f"{(SLOT_SIZE - NULL_PAGE_SIZE) // stride} threads; T{thread_id} is thread {index + 1}"
            )
        info = thread_info_of(index)
        space.write_virtual(info, thread_info(thread_id, gate_buffer_of(index), info))
        buffer = gate_buffer_of(index)
        space.write_virtual(buffer, bytes(PAGE_SIZE))
        if thread_pointer is None:
            area = build_thread_area(slot_base(thread_slot(state.id)) + NULL_PAGE_SIZE + index * stride, tls)
            space.write_virtual(area.base, area.data)
            thread_pointer = area.thread_pointer
        base, top = stack_bounds(state.id, index)
        context = context_of(space, index)
        return ThreadPart(thread_pointer, base, top, space.physical(info + THREAD_INFO_CALLER_OFFSET),
                          space.physical(buffer), context.gate_pte)  # fmt: skip

    # -- what the trust table grants ----------------------------------------------------------------------

    def grant_callee(self, caller: CompartmentState, callee: int, prot: Prot) -> None:
        """``caller`` sees ``callee``'s memory with ``prot``, in all its page tables, from now on."""
        if not prot:
            return
        grants = [ObjectGrant(g.slot, g.backing, prot) for g in self._owned[callee].memory]
        self._granted[caller.id] += grants
        self._seen_by.setdefault(callee, []).append((caller, prot))
        context = self.contexts[caller.name]
        for grant in grants:
            context.grant(Capability(grant.backing.key, grant.prot))
            caller.space.map_object(grant.slot, grant.backing, context.prot_of(grant.backing.key))

    def pair_space(self, callee: CompartmentState, caller: int) -> AddressSpace:
        """``callee``'s page tables while it serves a crossing from ``caller`` that lets it see the caller."""
        key = (callee.id, caller)
        space = self._pairs.get(key)
        if space is None:
            name = f"{callee.name} serving {self._names[caller]}"
            callers_memory = [ObjectGrant(g.slot, g.backing, _RW) for g in self._owned[caller].memory]
            grants = (*self._owned[callee.id].own, *self._granted[callee.id], *callers_memory)
            space = self._pairs[key] = self._space(name, _last_grant_wins(grants))
            for slot, placed in self.placed.get(callee.id, {}).items():
                self._place(space, slot, placed.backing, placed.prot)
        return space


def _last_grant_wins(grants: Iterable[ObjectGrant]) -> list[ObjectGrant]:
    """One grant per slot (a later grant of the same object's slot replaces an earlier one)."""
    by_slot: dict[int, ObjectGrant] = {}
    for grant in grants:
        by_slot[grant.slot] = grant
    return list(by_slot.values())
