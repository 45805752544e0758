"""What the guest headers say, mirrored once: the numbers and layouts guests and the monitor share.

``twzemu/sdk/include/twz.h`` is the contract with programs and libraries (DESIGN.md "Guest ABI"): the isolation
levels of ``TWZ_GATE_LEVEL``, what a refused gate call returns, the gate buffer's size and the record
``TWZ_GATE`` leaves in ``.twz_secgate_info``. ``twz_startup.h`` and ``twz_hypercall.h`` are the runtime's
private contract with the monitor: the thread control block at the thread pointer and the hypercall numbers.
Every value here is checked against the headers by compiling them (``tests/test_abi.py``), so a change on one
side that the other does not follow fails a test instead of a guest.

This is the bottom floor (with ``errors``): the ELF reader, the security model and the monitor all import it.
"""

from __future__ import annotations

import enum
import struct

from .errors import UsageError

WORD = 8  # a guest's long and pointer (LP64)

# -- twz.h --------------------------------------------------------------------------------------------------

TWZ_EPERM = -1  # a gate of a compartment whose initialisation failed (DESIGN.md "What a violation does")
TWZ_EFAULT = -14  # a gate call whose callee faulted or violated isolation inside the crossing

_CALLEE_DISTRUSTS = 1
_CALLER_DISTRUSTS = 2


class IsolationLevel(enum.IntEnum):
    """RFC 0008's trust table; the values are ``TWZ_ISOLATE_*``.

    The values are bit sets: bit 0 says "the callee does not trust the caller", bit 1 "the caller does not
    trust the callee". ``FULL`` is both, so the level that honours two requests is their bitwise OR (``join``).
    """

    NONE = 0  # both trust each other: a plain library call
    CALLEE = _CALLEE_DISTRUSTS  # the callee does not trust the caller
    CALLER = _CALLER_DISTRUSTS  # the caller does not trust the callee
    FULL = _CALLEE_DISTRUSTS | _CALLER_DISTRUSTS  # neither trusts the other

    @property
    def label(self) -> str:
        """The level's word on the command line and in the docs: ``none``, ``callee``, ``caller``, ``full``."""
        return self.name.lower()

    @property
    def callee_distrusts_caller(self) -> bool:
        return bool(self & _CALLEE_DISTRUSTS)

    @property
    def caller_distrusts_callee(self) -> bool:
        return bool(self & _CALLER_DISTRUSTS)

    def join(self, other: IsolationLevel) -> IsolationLevel:
        """The least level that isolates at least as much as both ``self`` and ``other``."""
        return IsolationLevel(self | other)

    def covers(self, other: IsolationLevel) -> bool:
        """Whether ``self`` distrusts in every direction ``other`` does (``self`` is at least as isolating)."""
        return not other & ~self

    @classmethod
    def parse(cls, text: str) -> IsolationLevel:
        """A level from its label (``--caller-isolation NAME=LEVEL``); a ``UsageError`` names the choices."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(level.label for level in cls)
            raise UsageError(f"unknown isolation level {text!r} (one of {choices})") from None


GATE_BUFFER_SIZE = 4096  # TWZ_GATE_BUFFER_SIZE: twz_gate_buffer()'s bytes

#: ``struct twz_gate_record``, which ``TWZ_GATE_LEVEL(fn, level)`` puts in ``GATE_SECTION``: the gate's name,
#: NUL-terminated in ``GATE_NAME_SIZE`` bytes, then its level as a ``long``; 8-aligned, no pointers (so no
#: relocation: the records can live with the read-only text).
GATE_SECTION = ".twz_secgate_info"
GATE_NAME_SIZE = 56
GATE_RECORD = struct.Struct(f"<{GATE_NAME_SIZE}sq")
GATE_RECORD_ALIGN = WORD

# -- twz_startup.h ------------------------------------------------------------------------------------------

#: The thread pointer (fs base) points at ``TCB_SIZE`` bytes for musl's ``struct pthread``: the monitor writes
#: ``self`` (fs:0, as the x86-64 TLS ABI requires) and ``dtv`` (fs:8); musl the rest.
TCB_SIZE = 512
TCB_FIELDS = ("self", "dtv")
#: ``struct twz_tls_modules`` after the descriptor: count, static size, alignment, then per module its image, the
#: image's length, the block's size, alignment and offset below the thread pointer.
TLS_TABLE_WORDS = 3
TLS_MODULE_WORDS = 5
#: ``struct twz_tls_loaded``, what a dlopen loaded that has TLS: the first new module's id, how many, then up to
#: ``TLS_LOADED_MAX`` modules as above. ``DLSYM_TLS``: dlsym's answer for a thread-local symbol.
TLS_LOADED_WORDS = 2
TLS_LOADED_MAX = 16
DLSYM_TLS = 1
#: ``struct twz_thread_info`` at ``TWZ_THREAD_INFO`` (the first thread's; the gs base is the running thread's): one
#: word per field, on a page each compartment maps read-only; ``caller_compartment`` is what
#: ``twz_caller_compartment()`` reads, written on every crossing.
THREAD_INFO_FIELDS = ("thread_id", "caller_compartment", "gate_buffer", "self")
THREAD_INFO_CALLER_OFFSET = WORD * THREAD_INFO_FIELDS.index("caller_compartment")
NOT_IN_A_GATE = -1  # caller_compartment outside a gate (twz.h: twz_caller_compartment)

# -- twz_hypercall.h ----------------------------------------------------------------------------------------


class Hypercall(enum.IntEnum):
    """``enum twz_hypercall``: the number in rax of a ``syscall`` (made only by the monitor's gate code)."""

    EXIT = 1  # (status) -> does not return
    WRITE = 2  # (fd, buf, len) -> bytes written or -errno
    NOP = 3  # () -> 0: the cost of a round trip
    HEAP_GROW = 4  # (bytes) -> address of that much more zeroed heap, contiguous, or 0 when exhausted
    COMPARTMENT_INFO = 5  # (what) -> 0: the caller's compartment id; 1: its gate buffer, holding its name
    SYSCALL = 6  # (n, a, b, c, d, e) -> a Linux system call served for the caller (monitor/syscalls.py)
    # <twz/object.h> (monitor/objects.py): -errno on failure
    OBJECT_CREATE = 7  # (lifetime, id out) -> 0
    OBJECT_MAP = 8  # (id, prot) -> the object's base in the caller's address space
    OBJECT_UNMAP = 9  # (base) -> 0
    PTR_STORE = 10  # (field, target) -> 0: the invariant pointer to target written at field
    PTR_LOAD = 11  # (field) -> the address the invariant pointer at field names (its object mapped)
    NAME_PUT = 12  # (name, id) -> 0
    NAME_GET = 13  # (name, id out) -> 0
    NAME_REMOVE = 14  # (name) -> 0
    NAME_LIST = 15  # (buffer, size) -> the bytes the names take, NUL-ended each


class RuntimeCall(enum.IntEnum):
    """``enum twz_runtime_syscall``: twzemu's own system calls (``Hypercall.SYSCALL``'s n), for ``<dlfcn.h>``."""

    DLOPEN = 0x7D00  # (path, table, capacity, modules, module capacity | mode << 32) -> handle (0: RTLD_NOLOAD)
    DLSYM = 0x7D01  # (handle, name, tls index, caller) -> address, or 1: a TLS symbol's module and offset in index
    DLCLOSE = 0x7D02  # (handle, table, capacity, at_exit) -> 0; table[0] finalisers follow
    DLREADY = 0x7D03  # (handle) -> 0: its initialisers have run
    DLADDR = 0x7D04  # (address, out, capacity) -> 1 and struct twz_dladdr in out, or 0: no library of the caller's
