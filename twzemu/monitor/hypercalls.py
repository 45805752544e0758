"""The runtime's private hypercall ABI (``twzemu/sdk/include/twz_hypercall.h``), dispatched through a table.

``syscall`` with the number in rax, arguments in rdi, rsi, rdx, r10, r8, r9 and the result in rax. The
handlers run inside the machine's syscall hook, so they read and write registers through the CPU views and
guest memory through the current address space; each is O(1) in the number of objects and compartments.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import BinaryIO, Protocol

from ..abi import GATE_BUFFER_SIZE, Hypercall
from ..errors import TwzEmuError
from ..machine.cpustate import RAX, RDI, RDX, RSI
from ..machine.machine import Machine
from ..mmu.space import Access, AddressSpace
from ..security.ids import CompartmentId
from .syscalls import SystemCalls

ENOSYS = -38
EBADF = -9
EINVAL = -22
EFAULT = -14
MAX_WRITE = 1 << 20


class InfoKind(IntEnum):
    """``COMPARTMENT_INFO``'s argument."""

    ID = 0
    NAME = 1


class Heap:
    """A compartment's heap: an object mapped RW- in its own slot, handed out from the bottom up."""

    __slots__ = ("base", "limit", "top")

    ALIGN = 16

    def __init__(self, base: int, size: int) -> None:
        self.base = base
        self.top = base
        self.limit = base + size

    def grow(self, size: int) -> int:
        size = (size + self.ALIGN - 1) // self.ALIGN * self.ALIGN
        if size <= 0 or self.top + size > self.limit:
            return 0
        start, self.top = self.top, self.top + size
        return start


class Client(Protocol):
    """The compartment a hypercall serves: whose heap grows, whose memory a write reads, who asks."""

    id: CompartmentId
    name: str
    heap: Heap
    space: AddressSpace
    thread_pointer: int


class Hypercalls:
    """The monitor side of the ABI: ``machine.on_hypercall = Hypercalls(...)``."""

    def __init__(
        self,
        stdout: BinaryIO,
        stderr: BinaryIO,
        client: Callable[[], Client | None],
        gate_buffer: Callable[[], int],
        reply: Callable[[bytes], None],
        system_calls: SystemCalls,
    ) -> None:
        self._streams = {1: stdout, 2: stderr}
        self.client = client  # the compartment served: the caller of the crossing into the monitor
        self.gate_buffer = gate_buffer  # the running thread's: its address, the same in every compartment
        self.reply = reply  # writes the monitor's answer into its gate buffer: the caller gets it on return
        self.system_calls = system_calls
        self._table: dict[int, Callable[[Machine], int | None]] = {  # None: no result now (the caller waits)
            Hypercall.EXIT: self._exit,
            Hypercall.WRITE: self._write,
            Hypercall.NOP: self._nop,
            Hypercall.HEAP_GROW: self._heap_grow,
            Hypercall.COMPARTMENT_INFO: self._compartment_info,
            Hypercall.SYSCALL: self._system_call,
        }

    def serve(self, number: int, handler: Callable[[Client, tuple[int, ...]], int]) -> None:
        """Serve hypercall ``number`` with ``handler``, given the client and the six argument registers (a
        monitor record a guest damaged makes the call fail with EINVAL)."""

        def serve(machine: Machine) -> int:
            client = self.client()
            if client is None:
                return EFAULT
            try:
                return handler(client, tuple(machine.hypercall_arguments()))
            except TwzEmuError:
                return EINVAL

        self._table[number] = serve

    def __call__(self, machine: Machine) -> None:
        handler = self._table.get(machine.register(RAX))
        result = ENOSYS if handler is None else handler(machine)
        if result is not None:
            machine.set_register(RAX, result)

    def _exit(self, machine: Machine) -> None:
        machine.exit(machine.register(RDI) & 0xFF)

    def _write(self, machine: Machine) -> int:
        stream = self._streams.get(machine.register(RDI))
        if stream is None:
            return EBADF
        length = min(machine.register(RDX), MAX_WRITE)
        client = self.client()
        if client is None:
            return EFAULT
        buffer = machine.register(RSI)
        if not client.space.user_may(buffer, length, Access.READ):  # only what the caller itself may read
            return EFAULT
        data = client.space.read_virtual(buffer, length)
        stream.write(data)
        stream.flush()
        return length

    def _nop(self, _machine: Machine) -> int:
        return 0

    def _heap_grow(self, machine: Machine) -> int:
        client = self.client()
        return 0 if client is None else client.heap.grow(machine.register(RDI))

    def _system_call(self, machine: Machine) -> int | None:
        """``(n, a, b, c, d, e)`` in rdi, rsi, rdx, r10, r8, r9 (the service's code moved the fourth out of rcx,
        which ``syscall`` overwrites)."""
        client = self.client()
        if client is None:
            return -EFAULT
        number, *args = machine.hypercall_arguments()
        return self.system_calls(client, number if number < 1 << 63 else -1, tuple(args))

    def _compartment_info(self, machine: Machine) -> int:
        client = self.client()
        kind = machine.register(RDI)
        if client is None:
            return ENOSYS
        if kind == InfoKind.ID:
            return client.id
        if kind == InfoKind.NAME:
            self.reply(client.name.encode("utf-8", "surrogateescape")[: GATE_BUFFER_SIZE - 1] + b"\0")
            return self.gate_buffer()
        return EINVAL
