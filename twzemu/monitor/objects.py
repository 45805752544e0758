"""Objects for guests (``<twz/object.h>``): create, map, unmap, invariant pointers, names and grants.

The monitor gates ``__twz_monitor_object_*``, ``__twz_monitor_ptr_*`` and ``__twz_monitor_name_*`` (``services``)
serve the compartment the crossing came from; a request beyond what it may do is an error result, never a fault.

- **Who may map what.** An object made by ``object_create`` belongs to the compartment that made it: it may map it
  ``r``, ``rw`` or ``rx`` (never writable and executable at once). The owner is recorded in the store's names, as
  ``owner:COMPARTMENT@DIGEST:ID`` (COMPARTMENT as reports name it, ``prog::libfoo.so``, unique in a run; DIGEST of the
  images it was made of, so a library that calls itself by another's soname, a program named like a compartment, or a
  dependency of the same name from elsewhere owns nothing of theirs), outside every byte a guest can write, and kept
  across runs with the object (a run makes at most ``MAX_CREATED``). Any other object - one added with ``twzemu store
  put``, another compartment's - is reachable only through a grant, ``--grant COMPARTMENT=NAME:PERMS``, and only with
  PERMS. Nothing else of the run (its images, stacks, heaps) is ever mappable this way.
- **Where.** A compartment's mapped objects take the slots from ``FIRST_OBJECT_SLOT`` up, in every set of page
  tables its code runs in (its own, and those made for callers whose memory it sees, now and later:
  ``CompartmentBuilder.place_object``), with the rights it asked for; the same object mapped by two compartments
  shares its frames, and an object is never writable in one compartment while executable in another (``EBUSY``).
  Mapping an object executable retranslates code (its frames may have been written). An
  object is laid out as ``objects.layout`` says: data from offset 0x1000, the FOT growing down below the meta page.
- **Invariant pointers.** ``ptr_store(field, target)`` writes at ``field`` (in a mapped object A the caller may
  write) the value ``fot_index << 48 | offset`` for ``target`` (in a mapped object B): index 0 when B is A, else
  the entry of A's FOT naming B (added if A has none). ``ptr_load(field)`` reads it back and maps B where the FOT
  says, with the rights the caller has on B (a FOT entry a guest forged names an object it still may not map).
- **Names.** The guests' namespace is the store's: ``name_get`` finds ``NAME`` itself (a name ``twzemu store put
  --name`` bound) or else ``obj:NAME`` (a name a guest put: it never hides one of the store's), never the
  monitor's own (``file:``, ``dir:``, ``owner:``, ``obj:`` spelled out); ``name_put`` binds a new ``obj:NAME``
  to an object the caller may map, ``name_remove`` removes one bound to an object it owns, ``name_list`` lists
  the names of objects it may map.
- **Persistence.** At the end of a run every object a guest mapped gets its pages back from the frames; the
  persistent ones are written to the store (``--store DIR``: kept for the next run, names too). A volatile object
  vanishes with the run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from ..abi import Hypercall
from ..errors import ObjectError, UsageError
from ..loader import ObjectBacking, slot_base
from ..machine.machine import Machine
from ..mmu.physmem import PhysicalMemory
from ..mmu.space import SLOT_SHIFT, Access
from ..objects.layout import (
    DATA_OFFSET,
    FOT_ENTRY_SIZE,
    INVPTR_OFFSET_BITS,
    MAX_OBJECT_SIZE,
    META_INFO_SIZE,
    META_OFFSET,
    PAGE_SIZE,
    FotEntry,
    MetaInfo,
    Prot,
    fot_entry_offset,
)
from ..objects.object import Lifetime, Object
from ..objects.objid import ObjId
from ..objects.store import ObjectStore, check_name
from ..security.ids import CompartmentId
from .compartments import CompartmentBuilder
from .crossing import Client, CompartmentState
from .syscalls import read_string

EPERM, ENOENT, EFAULT, EEXIST, EINVAL, ENOSPC, EACCES, ERANGE, EBUSY = 1, 2, 14, 17, 22, 28, 13, 34, 16
FIRST_OBJECT_SLOT = 0x1000  # 4 TiB: above every slot of layout.py's map
MAX_MAPPED = 256  # objects mapped at once, per compartment
MAX_CREATED = 4096  # objects made in one run (each is a file of the store when it persists)
MAX_FOT_ENTRIES = 4096  # an object's FOT here (Twizzler allows 65535): 128 KiB, what one pointer store may scan
DATA_END = 0x20000000  # TWZ_OBJ_DATA_SIZE: the fields an invariant pointer may be stored at end here
OBJECT_NAME_PREFIX = "obj:"  # a name a guest put
OWNER_PREFIX = "owner:"
RESERVED_PREFIXES = ("file:", "dir:", OWNER_PREFIX, OBJECT_NAME_PREFIX)
ID_BYTES = 16  # twz_objid: hi, then lo
NAME_MAX = 255
_OFFSET_MASK = (1 << INVPTR_OFFSET_BITS) - 1
_LETTERS = {"r": Prot.READ, "rw": Prot.READ | Prot.WRITE, "rx": Prot.READ | Prot.EXEC}


class Lifetimes(enum.IntEnum):
    """``twz_object_create``'s first argument."""

    VOLATILE = 0
    PERSISTENT = 1


@dataclass(frozen=True, slots=True)
class Grant:
    """``--grant COMPARTMENT=NAME:PERMS``: the compartment may map the object bound to NAME with PERMS."""

    compartment: str
    name: str
    prot: Prot

    @classmethod
    def parse(cls, text: str) -> Grant:
        compartment, equals, rest = text.partition("=")
        name, colon, letters = rest.rpartition(":")
        if not equals or not colon or not compartment or not name or letters not in _LETTERS:
            raise UsageError(f"--grant {text}: expected COMPARTMENT=NAME:PERMS, PERMS one of r, rw, rx "
                             "(e.g. libpasswd.so=passwd.db:rw)")  # fmt: skip
        return cls(compartment, name, _LETTERS[letters])


def id_bytes(id: ObjId) -> bytes:
    """``struct twz_objid``: the high half, then the low half, little-endian."""
    return id.hi.to_bytes(8, "little") + id.lo.to_bytes(8, "little")


def _id_from(data: bytes) -> ObjId:
    return ObjId.from_parts(int.from_bytes(data[:8], "little"), int.from_bytes(data[8:16], "little"))


class GuestObjects:
    """The object, pointer and name services of one run (module docstring)."""

    def __init__(self, store: ObjectStore, machine: Machine, builder: CompartmentBuilder,
                 states: Mapping[CompartmentId, CompartmentState],
                 keys: Callable[[CompartmentId], tuple[str, ...]], identity: Callable[[CompartmentId], str],
                 grants: Sequence[Grant] = ()) -> None:  # fmt: skip
        self.store = store
        self.machine = machine
        self.builder = builder
        self.states = states
        self.keys = keys  # what --grant may call a compartment
        self.identity = identity  # what an owner is recorded as
        self._grants: dict[str, dict[ObjId, Prot]] = {}
        for grant in grants:
            try:
                id = store.lookup(grant.name)
            except ObjectError:
                raise UsageError(f"--grant {grant.compartment}={grant.name}: no object named {grant.name} in "
                                 f"{store.path or 'the store'} (add one with twzemu store put)") from None  # fmt: skip
            rights = self._grants.setdefault(grant.compartment, {})
            rights[id] = rights.get(id, Prot(0)) | grant.prot
        self._touched: dict[ObjId, ObjectBacking] = {}  # every object a guest mapped: its pages come back at the end
        self._owners: dict[ObjId, str] | None = None  # object -> owner, from the store's names on first use
        self._created = 0

    @property
    def services(self) -> dict[int, Callable[[Client, tuple[int, ...]], int]]:
        return {
            Hypercall.OBJECT_CREATE: self.create,
            Hypercall.OBJECT_MAP: self.map,
            Hypercall.OBJECT_UNMAP: self.unmap,
            Hypercall.PTR_STORE: self.ptr_store,
            Hypercall.PTR_LOAD: self.ptr_load,
            Hypercall.NAME_PUT: self.name_put,
            Hypercall.NAME_GET: self.name_get,
            Hypercall.NAME_REMOVE: self.name_remove,
            Hypercall.NAME_LIST: self.name_list,
        }

    # -- rights ------------------------------------------------------------------------------------------

    def rights(self, client: Client, id: ObjId) -> Prot:
        """What ``client`` may do with object ``id``: everything (but W and X at once) if it owns it, what its
        grants say otherwise; nothing at all for an object no grant names."""
        if self._owner(id) == self.identity(client.id):
            return Prot.READ | Prot.WRITE | Prot.EXEC
        rights = Prot(0)
        for key in self.keys(client.id):
            rights |= self._grants.get(key, {}).get(id, Prot(0))
        return rights

    def _owner(self, id: ObjId) -> str | None:
        if self._owners is None:  # the store's owner records, read once (only ``create`` adds one)
            self._owners = {
                bound: name[len(OWNER_PREFIX) :].rsplit(":", 1)[0]
                for name, bound in self.store.names().items()
                if name.startswith(OWNER_PREFIX)
            }
        return self._owners.get(id)

    # -- objects -----------------------------------------------------------------------------------------

    def create(self, client: Client, args: tuple[int, ...]) -> int:
        """``(lifetime, id out)`` -> 0, the new object's id written at ``id``."""
        if args[0] not in (Lifetimes.VOLATILE, Lifetimes.PERSISTENT):
            return -EINVAL
        if not client.space.user_may(args[1], ID_BYTES, Access.WRITE):
            return -EFAULT
        lifetime = Lifetime.PERSISTENT if args[0] == Lifetimes.PERSISTENT else Lifetime.VOLATILE
        if self._created >= MAX_CREATED:
            return -ENOSPC
        owner = self.identity(client.id)
        try:
            check_name(f"{OWNER_PREFIX}{owner}:{ObjId(1 << 127)}")  # the record must be a name of the store
        except ObjectError:
            return -EINVAL  # a compartment whose name has a space cannot own objects
        self._created += 1
        obj = self.store.create(lifetime)
        self.store.put(obj)
        self.store.bind(f"{OWNER_PREFIX}{owner}:{obj.id}", obj.id)
        if self._owners is not None:
            self._owners[obj.id] = owner
        client.space.write_virtual(args[1], id_bytes(obj.id))
        return 0

    def map(self, client: Client, args: tuple[int, ...]) -> int:
        """``(id, prot)`` -> the object's base address in the caller's address space, or -errno: EACCES beyond
        its rights, ENOENT for no such object, ENOSPC with ``MAX_MAPPED`` mapped."""
        if not client.space.user_may(args[0], ID_BYTES, Access.READ):
            return -EFAULT
        prot = Prot(args[1] & 7) if args[1] & 7 == args[1] else None
        if prot is None or not prot & Prot.READ or prot & (Prot.WRITE | Prot.EXEC) == Prot.WRITE | Prot.EXEC:
            return -EINVAL
        return self._map(client, _id_from(client.space.read_virtual(args[0], ID_BYTES)), prot)

    def _map(self, client: Client, id: ObjId, prot: Prot) -> int:
        if prot & ~self.rights(client, id):
            return -EACCES
        try:
            obj = self.store.get(id)
        except ObjectError:
            return -ENOENT
        if self._conflicts(client.id, id, prot):
            return -EBUSY
        placed = self.builder.placed.get(client.id, {})
        slot = next((s for s, there in placed.items() if there.backing.key == id), None)
        if slot is None:
            slot = next((s for s in range(FIRST_OBJECT_SLOT, FIRST_OBJECT_SLOT + MAX_MAPPED) if s not in placed), None)
            if slot is None:
                return -ENOSPC
        backing = self._touched.get(id)
        if backing is None:
            backing = self._touched[id] = ObjectBacking(obj, essential=False)
        self.builder.place_object(self.states[client.id], slot, backing, prot)
        if prot & Prot.EXEC:  # its frames may hold code written since it was last translated
            self.machine.flush_translations()
        return slot_base(slot)

    def _conflicts(self, compartment: CompartmentId, id: ObjId, prot: Prot) -> bool:
        """Whether another compartment holds object ``id`` executable while ``prot`` would make it writable here,
        or the other way round: an object is never writable in one place and executable in another."""
        clash = Prot.EXEC if prot & Prot.WRITE else Prot.WRITE if prot & Prot.EXEC else Prot(0)
        return bool(clash) and any(
            there.backing.key == id and there.prot & clash
            for other, placed in self.builder.placed.items()
            if other != compartment
            for there in placed.values()
        )

    def unmap(self, client: Client, args: tuple[int, ...]) -> int:
        """``(base)`` -> 0; EINVAL unless ``base`` is where the caller mapped an object."""
        placed = self.builder.placed.get(client.id, {})
        slot = args[0] >> SLOT_SHIFT
        if args[0] & (MAX_OBJECT_SIZE - 1) or slot not in placed:
            return -EINVAL
        self.builder.place_object(self.states[client.id], slot, placed[slot].backing, None)
        return 0

    def _mapped_at(self, client: Client, address: int) -> tuple[int, ObjId] | None:
        slot = address >> SLOT_SHIFT
        there = self.builder.placed.get(client.id, {}).get(slot)
        return None if there is None else (slot, ObjId(there.backing.key))

    # -- invariant pointers ------------------------------------------------------------------------------

    def ptr_store(self, client: Client, args: tuple[int, ...]) -> int:
        """``(field, target)`` -> 0: the invariant pointer to ``target`` (0: a null pointer) written at ``field``."""
        field, target = args[0], args[1]
        holder = self._mapped_at(client, field)
        if holder is None or field & 7 or not DATA_OFFSET <= field - slot_base(holder[0]) <= DATA_END - 8:
            return -EINVAL
        if not client.space.user_may(field, 8, Access.WRITE):
            return -EACCES
        if target == 0:
            client.space.write_virtual(field, bytes(8))
            return 0
        pointee = self._mapped_at(client, target)
        if pointee is None:
            return -EINVAL  # only a pointer into an object mapped through this service is invariant
        offset = target - slot_base(pointee[0])
        if offset < DATA_OFFSET:
            return -EINVAL  # the null page: nothing there to point to (and 0 is the null pointer)
        index = 0 if pointee[1] == holder[1] else self._fot_index(client, holder[0], pointee[1])
        if index < 0:
            return index
        client.space.write_virtual(field, (index << INVPTR_OFFSET_BITS | offset).to_bytes(8, "little"))
        return 0

    def _fot_index(self, client: Client, slot: int, target: ObjId) -> int:
        """The index of the FOT entry of the object in ``slot`` naming ``target``, added if there is none."""
        base, space = slot_base(slot), client.space
        meta = MetaInfo.unpack(space.read_virtual(base + META_OFFSET, META_INFO_SIZE))
        count = meta.fotcount
        if count > MAX_FOT_ENTRIES:
            return -ENOSPC
        if count:  # entries count down from the meta page: read them all at once, the last first
            table = space.read_virtual(base + fot_entry_offset(count), count * FOT_ENTRY_SIZE)
            wanted = FotEntry(target).pack()[:ID_BYTES]
            at = table.find(wanted)
            while at >= 0 and at % FOT_ENTRY_SIZE:
                at = table.find(wanted, at + 1)
            if at >= 0:
                return count - at // FOT_ENTRY_SIZE
        index = count + 1
        if index > MAX_FOT_ENTRIES:
            return -ENOSPC
        space.write_virtual(base + fot_entry_offset(index), FotEntry(target).pack())
        space.write_virtual(base + META_OFFSET, replace(meta, fotcount=index).pack())
        return index

    def ptr_load(self, client: Client, args: tuple[int, ...]) -> int:
        """``(field)`` -> the address the invariant pointer at ``field`` names (its object mapped with the caller's
        rights if it was not), 0 for a null pointer, or -errno."""
        field = args[0]
        holder = self._mapped_at(client, field)
        if holder is None or not client.space.user_may(field, 8, Access.READ):
            return -EINVAL
        value = int.from_bytes(client.space.read_virtual(field, 8), "little")
        if value == 0:
            return 0
        index, offset = value >> INVPTR_OFFSET_BITS, value & _OFFSET_MASK
        if offset >= MAX_OBJECT_SIZE:
            return -ERANGE
        if index == 0:
            return slot_base(holder[0]) + offset
        base = slot_base(holder[0])
        meta = MetaInfo.unpack(client.space.read_virtual(base + META_OFFSET, META_INFO_SIZE))
        if index > min(meta.fotcount, MAX_FOT_ENTRIES):
            return -ENOENT
        entry = FotEntry.unpack(client.space.read_virtual(base + fot_entry_offset(index), FOT_ENTRY_SIZE))
        if not entry.is_live:
            return -ENOENT
        target = entry.id
        rights = self.rights(client, target) & (Prot.READ | Prot.WRITE)
        if not rights:
            return -EACCES
        mapped = self._map(client, target, rights)
        return mapped if mapped < 0 else mapped + offset

    # -- names -------------------------------------------------------------------------------------------

    def _name(self, client: Client, address: int) -> str | int:
        name = read_string(client.space, address, NAME_MAX + 1)
        if isinstance(name, int):
            return name
        if not name or name.startswith(RESERVED_PREFIXES):
            return -EINVAL
        try:
            check_name(OBJECT_NAME_PREFIX + name)
        except ObjectError:
            return -EINVAL
        return name

    def lookup(self, name: str) -> ObjId | None:
        """The object ``name`` names for guests (module docstring), or None."""
        return None if name.startswith(RESERVED_PREFIXES) else self._lookup(name)

    def _lookup(self, name: str) -> ObjId | None:
        for bound in (name, OBJECT_NAME_PREFIX + name):  # a name a guest put never hides one of the store's
            try:
                return self.store.lookup(bound)
            except ObjectError:
                continue
        return None

    def name_get(self, client: Client, args: tuple[int, ...]) -> int:
        """``(name, id out)`` -> 0 with the id written, or ENOENT."""
        name = self._name(client, args[0])
        if isinstance(name, int):
            return name
        if not client.space.user_may(args[1], ID_BYTES, Access.WRITE):
            return -EFAULT
        id = self._lookup(name)
        if id is None:
            return -ENOENT
        client.space.write_virtual(args[1], id_bytes(id))
        return 0

    def name_put(self, client: Client, args: tuple[int, ...]) -> int:
        """``(name, id)`` -> 0: ``name`` now names the object (one the caller may map); EEXIST if it named one."""
        name = self._name(client, args[0])
        if isinstance(name, int):
            return name
        if not client.space.user_may(args[1], ID_BYTES, Access.READ):
            return -EFAULT
        id = _id_from(client.space.read_virtual(args[1], ID_BYTES))
        if not self.rights(client, id) or id not in self.store:
            return -EACCES
        if self._lookup(name) is not None:
            return -EEXIST
        self.store.bind(OBJECT_NAME_PREFIX + name, id)
        return 0

    def name_remove(self, client: Client, args: tuple[int, ...]) -> int:
        """``(name)`` -> 0; ENOENT unless a guest put it, EACCES unless the caller owns its object."""
        name = self._name(client, args[0])
        if isinstance(name, int):
            return name
        try:
            id = self.store.lookup(OBJECT_NAME_PREFIX + name)
        except ObjectError:
            return -ENOENT
        if self._owner(id) != self.identity(client.id):
            return -EACCES
        self.store.unbind(OBJECT_NAME_PREFIX + name)
        return 0

    def name_list(self, client: Client, args: tuple[int, ...]) -> int:
        """``(buffer, size)`` -> the bytes the list takes: each name of an object the caller may map, NUL-ended,
        one after another (as much as fits is written)."""
        visible = []
        for name, id in self.store.names().items():
            if name.startswith(RESERVED_PREFIXES) and not name.startswith(OBJECT_NAME_PREFIX):
                continue
            if self.rights(client, id):
                visible.append(name.removeprefix(OBJECT_NAME_PREFIX).encode("utf-8", "surrogateescape") + b"\0")
        data = b"".join(sorted(set(visible)))
        size = min(args[1], len(data), 1 << 20)
        if size and not client.space.user_may(args[0], size, Access.WRITE):
            return -EFAULT
        if size:
            client.space.write_virtual(args[0], data[:size])
        return len(data)

    # -- the end of a run --------------------------------------------------------------------------------

    def write_back(self) -> None:
        """Every object a guest mapped gets its pages back from the frames; persistent ones go to the store."""
        mem = self.machine.mem
        if mem is None:
            return
        for id, backing in self._touched.items():
            frames = self.builder.cache.get(id)
            if frames is not None:
                _copy_back(mem, backing.obj, frames.frames)
                backing.obj.cover_written_data()
            if backing.obj.lifetime is Lifetime.PERSISTENT:
                self.store.put(backing.obj)


def _copy_back(mem: PhysicalMemory, obj: Object, frames: Mapping[int, int]) -> None:
    for index, frame in frames.items():
        page = mem.read(frame, PAGE_SIZE)
        if obj.page(index) != page and (obj.page(index) is not None or any(page)):
            obj.load_page(index, page)
