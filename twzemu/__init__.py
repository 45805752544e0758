"""twzemu: an emulator of the Twizzler monitor.

Data flows top to bottom (imports point one way):

* ``objects`` — Twizzler objects: 128-bit ids, the object layout, the object store;
* ``mmu`` — emulated physical memory, frames, 4-level x86-64 page tables, one ``AddressSpace`` per CR3;
* ``machine`` — the Unicorn CPU in long mode at CPL3: hooks, faults, hypercalls and the run loop;
* ``loader`` — maps an ELF program into a slot pair of an address space;
* ``cli`` — ``twzemu run``, ``twzemu store``.

Pure layers (objects, mmu encoding) never import Unicorn; only ``machine`` does.
"""

__version__ = "0.1.0"
