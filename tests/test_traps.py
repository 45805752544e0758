"""Guest actions that must end one crossing or the program, never the emulator: `int n` and running out of RAM.

SDM 3A 6.12.1.1: `int n` checks the DPL of IDT gate n against the CPL; an OS gives DPL 3 only to the breakpoint
and overflow gates (int3, `int 3`, `int 4`), so at CPL3 every other `int n` is a general-protection fault,
reported at the `int` itself. Unicorn hands `int n` to the interrupt hook as vector n, so without the CPU's
``exception_is_int`` an `int 8` looked like the double fault of unicorn #1883 (an internal error) and an
`int 0x0e` like a page fault with a stale CR2. A guest that touches more memory than the machine's RAM faults
like any other guest (DESIGN.md "What a violation does"): inside a crossing the call returns TWZ_EFAULT and the
program goes on; outside one the program stops with 139. The guests are guests/faults/int_n.c, oom.c and
gated/ (libtrap's gates fault on purpose; trapcall calls them).
"""

from __future__ import annotations

import re
from ctypes import addressof
from functools import cache

import pytest
from conftest import guest, one_line, twzemu
from elftools.elf.elffile import ELFFile

from twzemu.machine.machine import Machine

EFAULT_LINE = "{count} of {count} calls returned TWZ_EFAULT"
ANSWERS = "libtrap answers 42"
LIBTRAP = "trapcall::libtrap.so"
OOM_MEMORY = "16M"  # small RAM: running out takes a few thousand page faults


@cache
def trap_table(name: str) -> int:
    """Where ``trap_table`` (guests/faults/traps.h) lies in the image, relative to its text slot."""
    with open(guest(name), "rb") as file:
        symbols = ELFFile(file).get_section_by_name(".symtab")
        return symbols.get_symbol_by_name("trap_table")[0]["st_value"]


def gp_line(name: str, vector: int, compartment: str) -> re.Pattern[str]:
    """The exact report of `int <vector>` run from entry ``vector`` of ``name``'s trap_table."""
    offset = 4 * vector
    return re.compile(
        rf"twzemu: fault: general protection \(int {vector:#x}\) at trap_table\+{offset:#x} "
        rf"\((0x[0-9a-f]+)\) in {re.escape(compartment)}"
    )


def assert_gp(line: str, name: str, vector: int, compartment: str) -> None:
    match = gp_line(name, vector, compartment).fullmatch(line)
    assert match, line
    # The address is the `int` instruction itself (Unicorn's hook sees RIP past it): table + 4n in its slot.
    assert int(match[1], 16) & ((1 << 30) - 1) == trap_table(name) + 4 * vector


# -- `int n` in the program: general protection, the program stops -------------------------------------------


@pytest.mark.parametrize("vector", [0x08, 0x0E, 0x80, 0x06, 0x00, 0x0D, 0x21, 0x2E, 0x9A, 0xFF])
def test_int_n_in_the_program_is_a_general_protection_fault_at_the_int(vector):
    done = twzemu("run", str(guest("faults/int_n")), hex(vector))
    assert done.status == 139
    assert_gp(one_line(done.stderr), "faults/int_n", vector, "int_n")
    assert "not reached" not in done.stdout


def test_repeated_int_0x0e_stops_the_program_at_the_first():
    done = twzemu("run", str(guest("faults/int_n")), "0x0e", "1000")
    assert done.status == 139
    assert_gp(one_line(done.stderr), "faults/int_n", 0x0E, "int_n")


@pytest.mark.parametrize(
    ("argument", "vector", "what"), [("int3", 3, "breakpoint"), ("3", 3, "breakpoint"), ("4", 4, "overflow")]
)
def test_breakpoint_and_overflow_stay_what_they_were(argument, vector, what):
    """int3, `int 3` and `int 4` have DPL3 gates: they trap as breakpoint and overflow, not #GP (as before)."""
    done = twzemu("run", str(guest("faults/int_n")), argument)
    assert done.status == 139
    assert re.fullmatch(
        rf"twzemu: fault: {what} \(.*\) at trap_table\+0x[0-9a-f]+ \(0x[0-9a-f]+\) in int_n", one_line(done.stderr)
    )


# -- `int n` in a callee: the crossing is unwound, the caller gets TWZ_EFAULT, the program goes on -------------


def trapcall(*args: str, memory: str | None = None):
    options = ["--memory", memory] if memory else []
    return twzemu("run", *options, str(guest("faults/gated/trapcall")), *args)


@pytest.mark.parametrize("vector", [0x08, 0x0E, 0x80, 0x06, 0x00, 0xFF])
def test_int_n_in_a_callee_unwinds_the_call_with_efault(vector):
    done = trapcall("int", hex(vector))
    assert (done.status, done.stdout) == (0, f"{ANSWERS}\n{EFAULT_LINE.format(count=1)}\n{ANSWERS}\n")
    assert_gp(one_line(done.stderr), "faults/gated/libtrap.so", vector, LIBTRAP)


def test_ten_thousand_int_0x0e_in_a_callee_each_unwind_one_call():
    """Each call enters the gate with a fetch fault, so a stale #PF error code says "fetch" at every `int 0x0e`:
    the crossing engine must not take it for a gate entry (it did: the int was silently skipped)."""
    done = trapcall("int", "0x0e", "10000")
    assert (done.status, done.stdout) == (0, f"{ANSWERS}\n{EFAULT_LINE.format(count=10000)}\n{ANSWERS}\n")
    lines = done.stderr.splitlines()
    assert len(lines) == 10_000 and len(set(lines)) == 1
    assert_gp(lines[0], "faults/gated/libtrap.so", 0x0E, LIBTRAP)


def test_every_vector_in_a_callee_twenty_times_is_one_report_each():
    done = trapcall("int", "all", "20")
    assert (done.status, done.stdout) == (0, f"{ANSWERS}\n{EFAULT_LINE.format(count=256 * 20)}\n{ANSWERS}\n")
    lines = done.stderr.splitlines()
    assert len(lines) == 256 * 20
    for vector in range(256):
        batch = lines[20 * vector : 20 * (vector + 1)]
        assert len(set(batch)) == 1
        if vector in (3, 4):
            assert batch[0].startswith(f"twzemu: fault: {'breakpoint' if vector == 3 else 'overflow'} ("), batch[0]
        else:
            assert_gp(batch[0], "faults/gated/libtrap.so", vector, LIBTRAP)


def test_int3_in_a_callee_is_a_breakpoint_that_unwinds_the_call():
    done = trapcall("int", "int3")
    assert (done.status, done.stdout) == (0, f"{ANSWERS}\n{EFAULT_LINE.format(count=1)}\n{ANSWERS}\n")
    assert one_line(done.stderr).startswith("twzemu: fault: breakpoint (")


# -- out of guest memory ---------------------------------------------------------------------------------------

OOM = (
    r"twzemu: fault: out of guest memory \({size}; see --memory\) at {where}\+0x[0-9a-f]+ \(0x[0-9a-f]+\) "
    r"in {compartment}: write {compartment}:heap\+0x[0-9a-f]+ \(0x[0-9a-f]+\)"
)


def test_a_callee_that_runs_out_of_memory_is_unwound_and_the_program_goes_on():
    done = trapcall("touch", "32", memory=OOM_MEMORY)
    assert (done.status, done.stdout) == (0, f"{ANSWERS}\ntrap_touch returned -14\n{ANSWERS}\n")
    expected = OOM.format(size="16 MiB", where="trap_touch", compartment=re.escape(LIBTRAP))
    assert re.fullmatch(expected, one_line(done.stderr))


def test_the_same_callee_within_its_memory_returns_normally():
    done = trapcall("touch", "8", memory=OOM_MEMORY)
    assert (done.status, done.stdout, done.stderr) == (0, f"{ANSWERS}\ntrap_touch returned 8\n{ANSWERS}\n", "")


def test_a_program_that_runs_out_of_memory_stops_with_139_and_one_line():
    done = twzemu("run", "--memory", OOM_MEMORY, str(guest("faults/oom")), "32")
    assert (done.status, done.stdout) == (139, "")
    assert re.fullmatch(OOM.format(size="16 MiB", where="main", compartment="oom"), one_line(done.stderr))


def test_memory_decides_who_runs_out():
    """100 MiB of touched heap fits the default 512M and not 64M."""
    fits = twzemu("run", str(guest("faults/oom")), "100")
    assert (fits.status, fits.stdout, fits.stderr) == (0, "touched 100 MiB\n", "")
    small = twzemu("run", "--memory", "64M", str(guest("faults/oom")), "100")
    assert small.status == 139
    assert re.fullmatch(OOM.format(size="64 MiB", where="main", compartment="oom"), one_line(small.stderr))


@pytest.mark.parametrize("value", ["64m", "1G", "8388608", "4g"])
def test_memory_takes_bytes_or_k_m_g(value):
    done = twzemu("run", "--memory", value, str(guest("hello")))
    assert (done.status, done.stdout, done.stderr) == (0, "hello\n", "")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("lots", "not a size"),
        ("12.5M", "not a size"),
        ("-1", "not a size"),
        ("", "not a size"),
        ("0", "too small to boot"),
        ("64K", "too small to boot"),
        ("5G", "too large"),
        ("4097M", "too large"),
        ("524289", "not a whole number of 4096-byte pages"),
    ],
)
def test_a_bad_memory_value_is_a_usage_error_naming_option_and_value(value, why):
    done = twzemu("run", "--memory", value, str(guest("hello")))
    assert done.status == 2
    line = one_line(done.stderr)
    assert line.startswith("twzemu run: argument --memory: ") and repr(value) in line and why in line, line


def test_exception_is_int_sits_where_qemu_puts_it():
    """Calibration finds it without knowing the layout; QEMU's CPUX86State has it right after error_code."""
    with Machine(1 << 20) as machine:
        cpu = machine.cpu
        assert cpu is not None
        assert addressof(cpu.exception_is_int) == addressof(cpu.error_code) + 4
