"""ELF images as Twizzler objects in a slot pair (DESIGN.md "Concepts").

1. the ELF file becomes an object (``elf_object``), so a run's program is an object like any other;
2. a text object and a data object are created; every ``PT_LOAD`` segment is copied into the object its
   address falls in — text addresses in [0x1000, 1 GiB), data addresses in [1 GiB + 0x1000, 2 GiB) —
   and ``.bss`` stays zero (objects read as zeros where nothing was written);
3. the linker (``linker.link``) relocates the objects' contents;
4. the pair is mapped at slots (2n, 2n+1): text R-X, data RW- and NX (``map_image``).

Objects are copied into frames on first touch: write an object's content before it is mapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from .elf.image import ElfImage, SegmentFlags
from .errors import ElfError
from .mmu.pte import Prot
from .mmu.space import SLOT_SHIFT, SLOT_SIZE, AddressSpace
from .objects.layout import NULL_PAGE_SIZE
from .objects.object import Lifetime, Object
from .objects.store import ObjectStore

STACK_SIZE = 8 << 20  # as Linux gives a process (ulimit -s): backed a page at a time, as touched


class ObjectBacking:
    """Adapts an ``Object`` to the MMU's ``Backing`` protocol: frames are filled from its pages on first touch."""

    __slots__ = ("essential", "guard_stride", "key", "obj")

    def __init__(self, obj: Object, essential: bool = True, guard_stride: int = 0) -> None:
        self.obj = obj
        self.key = obj.id
        self.essential = essential  # False for a compartment's heap and stack: they may not take kept frames
        self.guard_stride = guard_stride  # pages never backed (``mmu.space.Backing``): a stack object's guards

    def initial_page(self, index: int) -> bytes | None:
        return self.obj.page(index)


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """A program mapped into an address space: where it is and which objects hold it."""

    image: ElfImage
    name: str
    base: int  # load bias: ELF address + base = virtual address
    text: Object
    data: Object
    text_slot: int

    @property
    def entry(self) -> int:
        return self.base + self.image.entry

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + 2 * SLOT_SIZE

    def locate(self, offset: int) -> tuple[Object, int]:
        """Which object holds ELF address ``offset`` (text below 1 GiB, data above) and where in it."""
        if offset >= SLOT_SIZE:
            return self.data, offset - SLOT_SIZE
        return self.text, offset


def slot_base(slot: int) -> int:
    return slot << SLOT_SHIFT


def build_objects(store: ObjectStore, image: ElfImage, made: list[Object] | None = None) -> tuple[Object, Object]:
    """Steps 1-2: the ELF file as an object, then its text and data objects filled from the segments (each one
    created is also appended to ``made``, for a caller that may have to remove them)."""
    created = [
        elf_object(store, image),
        store.create(lifetime=Lifetime.VOLATILE),
        store.create(lifetime=Lifetime.VOLATILE),
    ]
    if made is not None:
        made += created
    _, text, data = created
    for segment in image.segments:
        target, offset = _placement(image, segment.p_vaddr, segment.p_memsz, segment.p_flags, text, data)
        content = image.data[segment.p_offset : segment.p_offset + segment.p_filesz]
        skip = max(0, NULL_PAGE_SIZE - offset)  # the ELF headers share page 0, Twizzler's null page
        if len(content) > skip:
            target.write(offset + skip, content[skip:])
    return text, data


@dataclass(frozen=True, slots=True)
class ObjectGrant:
    """An object an address space maps: in which slot, with which rights."""

    slot: int
    backing: ObjectBacking
    prot: Prot


def image_grants(loaded: LoadedImage, text_prot: Prot = Prot.READ | Prot.EXEC) -> tuple[ObjectGrant, ObjectGrant]:
    """Step 4's mappings: text R-X and data RW- (NX) at the image's slot pair."""
    return (
        ObjectGrant(loaded.text_slot, ObjectBacking(loaded.text), text_prot),
        ObjectGrant(loaded.text_slot + 1, ObjectBacking(loaded.data), Prot.READ | Prot.WRITE),
    )


def map_image(space: AddressSpace, loaded: LoadedImage, text_prot: Prot = Prot.READ | Prot.EXEC) -> None:
    """Step 4: map ``image_grants`` in ``space``."""
    for grant in image_grants(loaded, text_prot):
        space.map_object(grant.slot, grant.backing, grant.prot)


def elf_object(store: ObjectStore, image: ElfImage) -> Object:
    """Store the ELF file itself as an object (its bytes from the data offset 0x1000)."""
    obj = store.create(lifetime=Lifetime.VOLATILE)
    obj.write(NULL_PAGE_SIZE, image.data)
    return obj


def _placement(
    image: ElfImage, vaddr: int, memsz: int, flags: SegmentFlags, text: Object, data: Object
) -> tuple[Object, int]:
    writable = bool(flags & SegmentFlags.W)
    if writable and flags & SegmentFlags.X:
        raise ElfError(f"{image.path}: segment at {vaddr:#x} is writable and executable (W^X)")
    slot_offset = SLOT_SIZE if writable else 0
    offset = vaddr - slot_offset
    if not (offset >= 0 and offset + memsz <= SLOT_SIZE and offset + memsz > NULL_PAGE_SIZE):
        kind = "data" if writable else "text"
        raise ElfError(
            f"{image.path}: {kind} segment at {vaddr:#x} does not fit Twizzler's slot-pair layout "
            "(text in [0x1000, 1 GiB), data in [1 GiB + 0x1000, 2 GiB); build with `twzemu cc`)"
        )
    return (data if writable else text), offset
