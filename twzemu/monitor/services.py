"""Compartment 0: the monitor's own gates, the only code allowed to make hypercalls.

The monitor generates their code at run time with keystone — each gate is ``mov eax, N; syscall; ret`` — into
a text object mapped R-X only in compartment 0's address space, and hands the linker their names, so
``__twz_monitor_write`` & co. bind like any gate. A runtime call to one is an ordinary crossing: the hypercall
handler serves the compartment the crossing came from (``Hypercalls.client``), never one named in the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..loader import slot_base
from ..machine.machine import assemble
from ..objects.layout import NULL_PAGE_SIZE
from ..objects.object import Object
from ..objects.store import ObjectStore
from ..security.gates import TRAMPOLINE_ALIGNMENT, Gate, IsolationLevel
from ..security.ids import MONITOR as MONITOR_COMPARTMENT
from .hypercalls import Hypercall
from .layout import MONITOR_TEXT_SLOT


@dataclass(frozen=True, slots=True)
class Service:
    hypercall: Hypercall  # what its code makes
    arity: int  # the arguments it takes (their declarations: twzemu/sdk/rt/twz_runtime.h)


SERVICES: dict[str, Service] = {
    "__twz_monitor_write": Service(Hypercall.WRITE, 3),
    "__twz_monitor_heap_grow": Service(Hypercall.HEAP_GROW, 1),
    "__twz_monitor_exit": Service(Hypercall.EXIT, 1),
    "__twz_monitor_nop": Service(Hypercall.NOP, 0),
    "__twz_monitor_compartment_info": Service(Hypercall.COMPARTMENT_INFO, 1),
    "__twz_monitor_syscall": Service(Hypercall.SYSCALL, 6),
    "__twz_monitor_object_create": Service(Hypercall.OBJECT_CREATE, 2),
    "__twz_monitor_object_map": Service(Hypercall.OBJECT_MAP, 2),
    "__twz_monitor_object_unmap": Service(Hypercall.OBJECT_UNMAP, 1),
    "__twz_monitor_ptr_store": Service(Hypercall.PTR_STORE, 2),
    "__twz_monitor_ptr_load": Service(Hypercall.PTR_LOAD, 1),
    "__twz_monitor_name_put": Service(Hypercall.NAME_PUT, 2),
    "__twz_monitor_name_get": Service(Hypercall.NAME_GET, 2),
    "__twz_monitor_name_remove": Service(Hypercall.NAME_REMOVE, 1),
    "__twz_monitor_name_list": Service(Hypercall.NAME_LIST, 2),
}


@dataclass(frozen=True, slots=True)
class MonitorText:
    text: Object
    gates: dict[str, Gate]


def build_monitor_text(store: ObjectStore) -> MonitorText:
    base = slot_base(MONITOR_TEXT_SLOT) + NULL_PAGE_SIZE
    code = b""
    gates: dict[str, Gate] = {}
    for name, service in SERVICES.items():
        code += b"\xcc" * (-len(code) % TRAMPOLINE_ALIGNMENT)  # int3 between gates: no way to slide into the next one
        # `syscall` overwrites rcx, where a call's fourth argument is: the hypercall ABI takes it in r10.
        keep_fourth = "mov r10, rcx; " if service.arity > 3 else ""
        body = assemble(f"{keep_fourth}mov eax, {int(service.hypercall)}; syscall; ret", base + len(code))
        gates[name] = Gate(
            name,
            MONITOR_COMPARTMENT,
            base + len(code),
            len(body),
            TRAMPOLINE_ALIGNMENT,
            IsolationLevel.FULL,
            service.arity,
            "monitor",
        )
        code += body
    text = store.create()
    text.write(NULL_PAGE_SIZE, code)
    return MonitorText(text, gates)
