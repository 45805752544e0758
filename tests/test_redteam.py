"""A red-team review of the isolation rework (issue 8): a malicious library author with the source attacks the
crossing engine, the on-demand initialisers, the gate buffer, the monitor's services and the ELF contents.

The guests are guests/attacks/redteam/ (built into guests/build/redteam/), run through the real CLI. Every
attempt is kept: where isolation held, the test checks the secure outcome a user sees; where it did not, the
test states the secure outcome and fails until the hole is closed (each such test says what got through).
"""

from __future__ import annotations

import re
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CLI, ROOT, guest, twzemu
from elftools.elf.elffile import ELFFile
from reports import EFAULT, HEX, KILLED, check, sym, violation

SECRET = "0x5ec2e7"  # libgrnone's secret (guests/attacks/redteam/nonebuf_lib.c)


def run(name: str, *args: str, options: tuple[str, ...] = (), timeout: float = 30):
    return twzemu("run", *options, str(guest(f"redteam/{name}")), *args, timeout=timeout)


def variant(program: str, directory: str, *args: str, options: tuple[str, ...] = (), timeout: float = 30):
    """``program`` with the library variant built into redteam/``directory``/ found first."""
    library_dir = str(guest(f"redteam/{directory}"))
    return run(program, *args, options=("-L", library_dir, *options), timeout=timeout)


def refused_entry(gate: str, owner: str, executing: str) -> str:
    """The line of a refused gate entry (any reason the monitor may add after it)."""
    return violation("enter", sym(gate, 0), owner, executing, sym(gate, 0)) + r"(?:\W.*)?"


def within(seconds: float, *args: str, **kwargs):
    """``run`` that fails (instead of hanging the suite) if twzemu is still running after ``seconds``."""
    try:
        return run(*args, timeout=seconds, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"twzemu run {' '.join(args)} was still running after {seconds} s")


def symbol_value(path: Path, name: str) -> int:
    with open(path, "rb") as file:
        return ELFFile(file).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


# == Holes: each test states the secure outcome; it fails while the hole is open =================================


def test_an_on_demand_initialiser_cannot_call_back_over_the_frames_it_interrupted():
    """Hole: libgrstart's constructor calls libgrvic's vic_work, which calls libgrplug's plug_run before libgrplug
    was initialised, so the monitor runs libgrplug's constructor in the middle of vic_work's call. That
    constructor calls vic_fill, a gate of the very compartment it interrupted: the monitor finds no live frame
    on libgrvic's stack (vic_work's rsp is only in the CPU state saved around the initialiser, not in any
    crossing record) and builds vic_fill's frame at the top of that stack, over vic_work's suspended frame; the
    attacker's word overwrites all 16 of vic_work's canaries. Frames must go below every live frame, the
    interrupted code's included (DESIGN.md "What each side sees")."""
    done = run("initclobber")
    check(done, 0, "vic_work returned 7 to the starter, plug_run 7\nvic_work's canaries corrupted: 0\n", [])


def test_a_level_none_callee_never_runs_on_its_own_gate_buffer():
    """Hole: at level none the callee's frame goes at the caller's rsp - 16, written through the callee's page
    tables. With rsp in the caller's gate buffer, that address is the callee's own gate buffer (the same
    address in every compartment), into which the caller's message is then copied: the caller chooses the
    callee's return addresses. Here the program, bound to a level-full gate of libgrnone (so granted none of
    its memory), makes libgrnone's leaf gate `ret` into none_private, a function that is no gate, whose `ret`
    ends the crossing with libgrnone's secret. Secure: the frame is refused (the program is killed with an
    `enter` violation) or built on a stack (the gate answers 3); the secret never reaches the program."""
    library = guest("redteam/libgrnone.so")
    offset = symbol_value(library, "none_private") - symbol_value(library, "none_version")
    done = run("nonebuf", hex(offset))
    assert "Traceback" not in done.stderr, done.stderr
    assert SECRET not in done.stdout, "the caller read the callee's secret through its gate buffer"
    if done.status == KILLED:
        check(done, KILLED, "", [refused_entry("none_version", "nonebuf::libgrnone.so", "nonebuf")])
    else:
        check(done, 0, "level none gate called with rsp in the gate buffer returned 0x3\ncheck: 1\n", [])


def test_the_program_is_initialised_before_a_library_crosses_into_it():
    """Hole: libgrearly's constructor calls the program's gate prog_ready at start, before the program's own
    constructor ran (the program's initialisers run in its _start, after every library's): the gate runs on
    uninitialised state and answers 0. "The first crossing into a compartment runs its initialisers first":
    secure is that the gate sees its constructor's work (1), or that the crossing is refused (TWZ_EPERM, with a
    report line) until the program started."""
    done = run("early")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.status == 0, done.stderr
    if done.stdout == "the library's constructor got -1 from the program's gate\n":
        assert done.stderr.count("\n") == 1 and "prog_ready" in done.stderr, done.stderr
    else:
        check(done, 0, "the library's constructor got 1 from the program's gate\n", [])


def test_timeout_stops_a_constructor_that_never_returns():
    """Hole: the isolated compartments' initialisers run before the program, outside `--timeout`: a library
    whose constructor loops forever hangs twzemu for good (docs/security.md: "a callee may loop forever (the
    run's --timeout applies)")."""
    done = within(6, "ctor", options=("--timeout", "1", "-L", str(guest("redteam/ctor_initloop"))))
    check(done, 124, "", [r"twzemu: timeout: \S*ctor still running after 1 s"])


def test_timeout_stops_a_finaliser_that_never_returns():
    """Hole: the same for the finalisers the monitor runs after the program's exit."""
    done = within(6, "ctor", options=("--timeout", "1", "-L", str(guest("redteam/ctor_finiloop"))))
    check(done, 124, "ctor_ping: 1\n", [r"twzemu: timeout: \S*ctor still running after 1 s"])


def interrupted(directory: str) -> tuple[int, str, str]:
    """``ctor`` with the variant in ``directory``, interrupted with SIGINT (Ctrl-C) after 2 s."""
    command = [*CLI, "run", "-L", str(guest(f"redteam/{directory}")), str(guest("redteam/ctor"))]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("twzemu was still running 10 s after Ctrl-C")
    return process.returncode, stdout, stderr


@pytest.mark.parametrize(("directory", "stdout"), [("ctor_initloop", ""), ("ctor_finiloop", "ctor_ping: 1\n")])
def test_ctrl_c_stops_a_constructor_or_finaliser_that_never_returns(directory, stdout):
    """Hole: the same for Ctrl-C (DESIGN.md: "Ctrl-C stops it (exit 130)"): in a constructor it ends twzemu with
    "initialiser start+0x0 did not return (interrupted)" and status 139; in a finaliser it only skips that one
    ("finaliser stop+0x0 did not return", status 0), and the next finaliser runs."""
    status, out, err = interrupted(directory)
    assert "Traceback" not in err, err
    assert (status, out) == (130, stdout), err
    assert re.fullmatch(r"twzemu: interrupted\b.*\n", err), err


def test_exit_in_a_constructor_ends_the_run_with_its_status():
    """Hole (robustness): a library constructor that calls exit(3) ends twzemu with "initialiser start+0x0 did not
    return (exit)" and status 139, as if it had faulted; the guest's exit(n) is status n (DESIGN.md "Exit
    status")."""
    done = variant("ctor", "ctor_initexit")
    check(done, 3, "", [])


def copy_guests(tmp_path: Path, *names: str) -> None:
    for name in names:
        shutil.copy(guest(f"redteam/{name}"), tmp_path / name)


@pytest.mark.parametrize(("field", "offset"), [("p_memsz", 40), ("p_align", 48)])  # offsets in an Elf64_Phdr
def test_a_hostile_tls_size_is_an_error_naming_the_library(tmp_path, field, offset):
    """Hole: a 6 KiB library whose PT_TLS segment claims 1 TiB (or a 1 TiB alignment) makes the monitor allocate
    the whole thread area in host memory: `internal error: MemoryError` (status 70). (A 4 GiB p_memsz takes
    8 GiB of host memory and 24 s before failing; 1 GiB, which fits the thread slot, 2 GiB and 6 s.) Hostile ELF
    input is an error naming the file (status 127), never an internal error."""
    copy_guests(tmp_path, "tls", "libgrtls.so")
    library = tmp_path / "libgrtls.so"
    data = bytearray(library.read_bytes())
    with open(library, "rb") as file:
        elf = ELFFile(file)
        index = next(i for i, segment in enumerate(elf.iter_segments()) if segment["p_type"] == "PT_TLS")
        at = elf["e_phoff"] + index * elf["e_phentsize"] + offset
    struct.pack_into("<Q", data, at, 1 << 40)
    library.write_bytes(data)
    done = twzemu("run", "-L", str(tmp_path), str(tmp_path / "tls"), timeout=30)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.status == 127, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "libgrtls.so" in done.stderr, done.stderr


def test_names_from_the_elf_cannot_forge_report_lines():
    """Hole: a compartment is named after its library's SONAME, which the library chooses. libgrinject's is
    "libgrinject.so\\ntwzemu: security violation: write secret+0x0 ... \\033[2J": the one violation line it
    causes comes out as two lines, the second a forged report blaming the program, with a raw terminal escape
    (clear screen). Every report is one line of printable text (DESIGN.md "Errors", "Violation line")."""
    done = variant("inject", "inject_evil")
    assert done.status == 0 and done.stdout == "inject_read: -14\n", done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("twzemu: security violation: read mine+0x0 ")
    assert lines[0].isprintable(), repr(lines[0])


def test_a_message_for_a_refused_crossing_reaches_nobody_else():
    """Hole: the program writes a password for libgrbroken and calls its gate; libgrbroken failed to initialise,
    so the call is answered TWZ_EPERM without a crossing, and the message stays unsent. The next gate the
    program calls, libgrsnoop's, receives it. "What one side writes into the gate buffer is readable only by
    the other side of that crossing" (DESIGN.md): a refused crossing (failed compartment, initialisation cycle,
    nesting too deep) must consume the message, not pass it on to whoever is called next. An attacker that can
    make a crossing be refused (make its target's initialisation fail, or nest deep enough) gets what was
    written for it."""
    done = run("refused")
    check(
        done,
        0,
        "login: -1\nsnoop finds: nothing\n",
        [
            rf"twzemu: fault: general protection \(int 0x80\) at {sym('start', 0)} \({HEX}\) "
            r"in refused::libgrbroken\.so",
            r"twzemu: compartment refused::libgrbroken\.so failed to initialise: its gates answer TWZ_EPERM",
        ],
    )


# == What held ===================================================================================================

# -- the honest builds of the libraries the variants above replace ----------------------------------------------


@pytest.mark.parametrize(
    ("program", "stdout"),
    [
        ("ctor", "ctor_ping: 1\n"),
        ("initarr", "initarr_ran: 1, target_add: 42\n"),
        ("tls", "tls_bump: 6\n"),
    ],
)
def test_the_honest_builds_run(program, stdout):
    check(run(program), 0, stdout, [])


def test_the_honest_soname_names_the_compartment():
    check(
        run("inject"),
        0,
        "inject_read: -14\n",
        [violation("read", sym("mine", 0), "inject", "inject::libgrinject.so", sym("inject_read", 0))],
    )


# -- initialisers -------------------------------------------------------------------------------------------------


def test_nested_on_demand_initialisers_a_cycle_and_a_fault_in_one():
    """libgrchaine's constructor needs libgrchainf, whose constructor needs libgrchaing, whose constructor calls
    libgrchaine (still initialising: TWZ_EPERM, one line); libgrchainf's constructor then executes `int $0x80`
    (general protection): libgrchainf failed, its gates answer TWZ_EPERM, the others work."""
    done = run("chain")
    check(
        done,
        0,
        "e's constructor got -1, g's constructor got -1\ne 1, f -1, g 1\n",
        [
            r"twzemu: fault: initialisation cycle: chain::libgrchaine\.so is still initialising: "
            r"chain::libgrchaing\.so calling gate chaine_ping of chain::libgrchaine\.so refused \(TWZ_EPERM\)",
            rf"twzemu: fault: general protection \(int 0x80\) at {sym('start')} \({HEX}\) in chain::libgrchainf\.so",
            r"twzemu: compartment chain::libgrchainf\.so failed to initialise: its gates answer TWZ_EPERM",
        ],
    )


def test_a_constructor_that_recurses_until_its_stack_ends_fails_that_compartment_only():
    done = variant("ctor", "ctor_recurse")
    check(
        done,
        0,
        "ctor_ping: -1\n",
        [
            # depth.isra.0 at -O2; the first thread's stack lies right above its stack slot's null page, its guard
            rf"twzemu: fault: stack overflow of T1 at depth\S*\+{HEX} in ctor::libgrctor\.so",
            r"twzemu: compartment ctor::libgrctor\.so failed to initialise: its gates answer TWZ_EPERM",
        ],
    )


@pytest.mark.parametrize(
    ("build", "target", "owner"),
    [
        # .init_array holds libgrtarget's gate + 4 (a relocation against another compartment's gate, with an addend)
        ("initarr_middle", sym("target_add", 4), "initarr::libgrtarget.so"),
        # .init_array holds the monitor's exit service + 5: its `syscall` instruction
        ("initarr_syscall", sym("monitor", 0x1025), "monitor"),
    ],
)
def test_an_init_array_entry_in_another_compartments_code_fails_the_initialisation(build, target, owner):
    done = variant("initarr", build)
    check(
        done,
        0,
        "initarr_ran: -1, target_add: 42\n",
        [
            violation("execute", target, owner, "initarr::libgrinitarr.so", target),
            r"twzemu: compartment initarr::libgrinitarr\.so failed to initialise: its gates answer TWZ_EPERM",
        ],
    )


@pytest.mark.parametrize(
    ("r_offset", "why"),
    [
        (0x80001000, "lies outside"),  # the slot above its data object: the next library's text
        (0xFFFFFFFFFFFFF000, "lies outside"),
        (0x1000, "writes the read-only text"),
    ],
)
def test_a_relocation_aimed_outside_its_own_data_is_a_link_error(tmp_path, r_offset, why):
    copy_guests(tmp_path, "initarr", "libgrinitarr.so", "libgrtarget.so")
    library = tmp_path / "libgrinitarr.so"
    data = bytearray(library.read_bytes())
    with open(library, "rb") as file:
        table = ELFFile(file).get_section_by_name(".rela.dyn")["sh_offset"]
    struct.pack_into("<Q", data, table, r_offset)  # the first Elf64_Rela's r_offset (its init_array entry)
    library.write_bytes(data)
    done = twzemu("run", "-L", str(tmp_path), str(tmp_path / "initarr"))
    assert (done.status, done.stdout) == (127, ""), done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "libgrinitarr.so" in line and why in line and hex(r_offset) in line, done.stderr


def test_an_init_array_entry_at_another_compartments_gate_is_a_plain_crossing():
    """The monitor calls libgrtarget's gate as libgrinitarr's initialiser: a crossing from libgrinitarr like a
    call from a constructor (its own constructor never runs), nothing more."""
    check(variant("initarr", "initarr_gate"), 0, "initarr_ran: 0, target_add: 42\n", [])


def test_a_message_written_after_an_on_demand_initialiser_called_back_its_writer_still_crosses():
    """libgrmsgv (serving libgrmsgs's constructor in its page tables for that caller) writes a message and calls
    libgrmsgp, whose constructor runs first and calls libgrmsgv back in its own page tables (it receives a
    message there). Its next write starts a new message, which libgrmsgp receives."""
    check(run("msglost"), 0, "libgrmsgp received: second (starter 1, run 1)\n", [])


# -- rsp, the return point and the TCB ------------------------------------------------------------------------------

CANARY = "my canary: 0xca7\n"


def test_loading_fs_moves_the_thread_pointer_of_that_crossing_only():
    """wrfsbase is refused, but `mov USER_DS, %fs` sets fs's base to 0 (the descriptor's): the callee's next
    TLS access faults at 0 and unwinds it; its next crossing has its thread pointer back."""
    check(
        run("probe", "fs"),
        0,
        f"callee zeroes its fs base: {EFAULT}\ncallee's thread-local afterwards: 0x7155\n" + CANARY,
        [rf"twzemu: fault: read 0x0 \(0x0\) in no object from probe::libgrcallee\.so at {sym('callee_zero_fs')}"],
    )


def test_the_trap_flag_set_by_a_callee_traps_in_its_crossing_only():
    trap = rf"twzemu: fault: debug \(.*\) at {sym('callee_trap_flag')} \({HEX}\) in probe::libgrcallee\.so"
    check(run("probe", "tf"), 0, f"callee sets the trap flag: {EFAULT}\ncallee id afterwards: 2\n" + CANARY, [trap])


def test_a_gate_call_with_rsp_unaligned_is_refused_and_unwinds_the_caller():
    done = run("probe", "unaligned")
    check(
        done,
        0,
        f"callee calls with rsp unaligned: {EFAULT}\n" + CANARY,
        [refused_entry("third_value", "probe::libgrthird.so", "probe::libgrcallee.so")],
    )


def test_a_level_none_call_at_the_bottom_of_the_stack_gets_no_frame_in_the_null_page():
    """With rsp 16 bytes above the bottom of its stack, a caller's level-none callee cannot share it (its frame
    would go into the null page): the callee runs on a fresh stack of its own, and nothing is written below the
    caller's stack."""
    done = run("probe", "bottom")
    check(done, 0, "callee calls a level-none gate at the bottom of its stack: 29719\n" + CANARY, [])


def test_a_callee_that_returns_from_another_stack_gives_the_caller_its_own_back():
    check(run("probe", "switch"), 0, "callee returns from a stack in its data: 42\n" + CANARY, [])


def test_the_return_point_under_junk_instead_of_a_tail_call_still_ends_both_crossings():
    check(run("probe", "forge"), 0, "callee jmps to a gate with the return point under junk: 0x7417\n" + CANARY, [])


def test_the_return_point_as_the_programs_own_return_address_kills_it():
    """Outside any crossing the return point ends nothing: the callee ran (the program may call it anyway), and
    the program that "returns" there is killed."""
    done = run("probe", "forge0")
    check(
        done,
        KILLED,
        "the program jmps to a gate with the return point as its return address\n",
        [r"twzemu: (?:fault|security violation): \w+ .*\(0xffff800000000800\) in .* from probe at .*"],
    )


def test_a_caller_id_written_into_the_tcb_fools_neither_the_monitor_nor_the_next_callee():
    """libgrcallee writes 99 as its caller into its own TCB: the program's gate it then calls sees libgrcallee's
    id (2), and the monitor still answers 2 for it (2 * 1000 + 2)."""
    check(run("probe", "tcb"), 0, "callee id 2; after lying in its TCB: 2002\n" + CANARY, [])


# -- page tables of a trusting pair ---------------------------------------------------------------------------------


def test_a_callee_holding_its_callers_trust_passes_none_of_it_on():
    """libgrpeer (level callee) reads the program's word; the third compartment it hands the pointer to cannot,
    nor can libgrpeer itself when the third compartment calls it back (a crossing that is not the program's:
    its own page tables, after a CR3 switch away from the pair's); back in the program's crossing it can."""
    done = run("probe", "pair")
    check(
        done,
        0,
        f"peer reads my word: 0x600d\nthird reads it, from peer: {EFAULT}\n"
        f"peer reads it, called back by third: {EFAULT}\npeer reads it again: 0x600d\n" + CANARY,
        [
            violation("read", sym("word", 0), "probe", "probe::libgrthird.so", sym("third_read", 0)),
            violation("read", sym("word", 0), "probe", "probe::libgrpeer.so", sym("peer_read_full", 0)),
        ],
    )


# -- the monitor's services -----------------------------------------------------------------------------------------


def test_output_reads_only_what_the_client_may_read():
    """The write service reads through its client's page tables: libgrthird (level full) gets EFAULT for the
    program's word, libgrpeer (level callee, serving the program) prints the program's message."""
    check(
        run("probe", "write"),
        0,
        f"third writes my word: {EFAULT}\npeer writes my message\npeer wrote 23 bytes\n" + CANARY,
        [],
    )


def test_absurd_service_arguments_get_null_or_einval_and_the_heap_still_works():
    check(
        run("probe", "heap"),
        0,
        "malloc(-1): 0\nmalloc(1 TiB): 0\ncalloc(2^62, 16): 0\n"  # musl prints a null %p as 0
        "third grows its heap by -16: 0\nthird grows its heap by 1 GiB: 0\n"
        "third asks compartment_info 7 and -1: -22 -22\nmalloc(100): still works\n" + CANARY,
        [],
    )


# -- the gate buffer ------------------------------------------------------------------------------------------------


def test_string_instructions_on_a_stale_gate_buffer_start_a_new_message():
    """rep movsb shifting a received message faults on its first write: the buffer is cleared (the rest of the
    copy reads zeros); std + rep stosb fills the whole buffer from its end; a reply written before a monitor
    service reaches the caller."""
    check(
        run("probe", "buffer"),
        0,
        "third shifts my message with rep movsb: 0 nonzero bytes\n"
        "third fills its buffer backwards: 4096; I receive 4096 nonzero bytes, first x\n"
        "third prints\nthird's reply: pong\n" + CANARY,
        [],
    )
