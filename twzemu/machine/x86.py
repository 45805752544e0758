"""x86-64 architectural vocabulary the machine uses: exception vectors, #PF error-code bits, control-register and
MSR bits, segment selectors. Numbers come from the Intel SDM vol. 3A (chapters 2, 4.7 and 6.15)."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class Vector(IntEnum):
    """Exception vectors (SDM 3A table 6-1) and the names a fault report uses for them."""

    DIVIDE_ERROR = 0
    DEBUG = 1
    BREAKPOINT = 3
    OVERFLOW = 4
    BOUND_RANGE = 5
    INVALID_OPCODE = 6
    DEVICE_NOT_AVAILABLE = 7
    DOUBLE_FAULT = 8
    INVALID_TSS = 10
    SEGMENT_NOT_PRESENT = 11
    STACK_FAULT = 12
    GENERAL_PROTECTION = 13
    PAGE_FAULT = 14
    X87_FPU = 16
    ALIGNMENT_CHECK = 17
    SIMD_FP = 19

    @property
    def description(self) -> str:
        return self.name.lower().replace("_", " ")


class PfError(IntFlag):
    """#PF error code (SDM 3A 4.7): why the page walk failed."""

    PRESENT = 1 << 0  # 0: the page was not present; 1: a protection violation
    WRITE = 1 << 1  # the access was a write
    USER = 1 << 2  # the access came from CPL3
    RESERVED = 1 << 3  # a reserved bit was set in a paging entry
    FETCH = 1 << 4  # an instruction fetch (needs EFER.NXE)


class Cr0(IntFlag):
    PE = 1 << 0
    WP = 1 << 16
    PG = 1 << 31


class Cr4(IntFlag):
    PAE = 1 << 5
    FSGSBASE = 1 << 16  # lets CPL3 code run wrfsbase: cleared, the thread pointer is the monitor's


class Efer(IntFlag):
    SCE = 1 << 0
    LME = 1 << 8
    LMA = 1 << 10
    NXE = 1 << 11


class Msr(IntEnum):
    EFER = 0xC000_0080


# Selectors of the GDT the machine installs: index << 3 | RPL.
KERNEL_CS = 1 << 3
KERNEL_DS = 2 << 3
USER_DS = 3 << 3 | 3
USER_CS = 4 << 3 | 3

# 64-bit descriptors (SDM 3A 3.4.5): present, S=1, DPL, type; L=1 for code.
GDT_ENTRIES = (
    0,
    0x0020_9B00_0000_0000,  # kernel code, DPL0, long mode
    0x0000_9300_0000_0000,  # kernel data, DPL0
    0x0000_F300_0000_0000,  # user data, DPL3
    0x0020_FB00_0000_0000,  # user code, DPL3, long mode
)

# psABI 3.4.1: the initial x87 control word (all exceptions masked, extended precision, round to nearest), the
# same for SSE, and an empty x87 stack. Unicorn starts with 0 in both control words, which unmasks every
# floating-point exception.
FPCW_DEFAULT = 0x037F
MXCSR_DEFAULT = 0x1F80
FPTAG_EMPTY = 0xFFFF

RFLAGS_IF = 1 << 9
RFLAGS_RESERVED = 1 << 1
