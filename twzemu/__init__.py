"""twzemu: an emulator of the Twizzler monitor.

Data flows top to bottom; imports point one way, down (``tests/test_layers.py`` checks it):

* ``cli`` — ``twzemu run``, ``cc``, ``store``: parse, call the library, print;
* ``debug`` — the debugger, above the monitor;
* ``monitor`` — a run: compartments, crossings, services, faults and their reports;
* ``linker`` — library graph, compartments, symbol lookup, relocation, TLS, init/fini; names addresses;
* ``loader`` — an ELF image as a text and a data object in a slot pair;
* ``machine`` — the Unicorn CPU in long mode at CPL3: hooks, faults, hypercalls, the run loop, the crossing engine;
* ``mmu`` — emulated physical memory, frames, 4-level x86-64 page tables, one ``AddressSpace`` per CR3;
* ``security`` — capabilities, gates, contexts, the trust table, verdicts;
* ``elf`` — the ELF reader: headers, dynamic section, relocation types, gate records, DWARF arities, return sites;
* ``objects`` — Twizzler objects: 128-bit ids, the object layout, the object store;
* ``abi``, ``cache``, ``errors`` — the guest headers' numbers, derived data kept by content, the one error root.

Pure layers (objects, elf, security, mmu encoding, linker planning) never import Unicorn; only ``machine`` does.
"""

__version__ = "0.1.0"

# The Python API (README "Python API"), exported lazily: ``twzemu run`` does not pay for importing it.
_API = {
    "Session": "twzemu.monitor.call",
    "Library": "twzemu.monitor.call",
    "RunOutput": "twzemu.monitor.call",
    "CallError": "twzemu.monitor.call",
    "GateTypeError": "twzemu.monitor.call",
    "GateNameError": "twzemu.monitor.call",
    "GateSecurityError": "twzemu.monitor.call",
    "Debugger": "twzemu.debug.api",
    "Paused": "twzemu.debug.api",
    "Finished": "twzemu.debug.api",
}


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'twzemu' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
