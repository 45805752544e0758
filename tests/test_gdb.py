"""The gdb stub (issue 10) driven by the machine's real gdb in batch mode, against guests built by the Makefile."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "guests" / "build"
TWZEMU = [sys.executable, "-m", "twzemu.cli"]
GDB = shutil.which("gdb")

if GDB is None and not os.environ.get("CI"):
    pytest.skip("gdb is not installed: the gdb stub tests need it (in CI they fail instead)", allow_module_level=True)


def debug(program: Path, *commands: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Run ``program`` under ``twzemu run --gdb 0``, attach gdb with ``commands``; gdb's output and twzemu's end."""
    assert GDB is not None, "gdb is required in CI"
    twzemu = subprocess.Popen(
        [*TWZEMU, "run", "--gdb", "0", str(program)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert twzemu.stderr is not None
    line = twzemu.stderr.readline()
    match = re.fullmatch(r"twzemu: waiting for gdb on 127\.0\.0\.1:(\d+)\n", line)
    assert match, line
    arguments = [GDB, "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{match[1]}"]
    for command in commands:
        arguments += ["-ex", command]
    gdb = subprocess.run(arguments, capture_output=True, text=True, timeout=60, cwd=ROOT)
    stdout, stderr = twzemu.communicate(timeout=60)
    return gdb.stdout + gdb.stderr, subprocess.CompletedProcess(twzemu.args, twzemu.returncode, stdout, stderr)


def test_break_on_main_stepi_and_continue_to_the_exit() -> None:
    out, run = debug(BUILD / "hello", "break main", "continue", "stepi", "print $pc == main + 4", "continue")
    assert "Breakpoint 1, main () at hello.c" in out
    assert "$1 = 1" in out
    assert "exited normally" in out
    assert run.stdout == "hello\n" and run.returncode == 0


def test_gdb_finds_the_program_and_libraries_itself_and_memory_errors_are_errors() -> None:
    out, run = debug(BUILD / "passwd" / "passwd_demo", "info sharedlibrary", "x/x 0x10", "kill")
    assert re.search(r"0x0*280001000 +0x[0-9a-f]+ +Yes +\S*/libpasswd\.so", out), out
    assert "Cannot access memory at address 0x10" in out
    # the first initialiser: libpasswd's, in the runtime built from twzemu/sdk/rt/
    assert re.search(r"twz_libc_init \(argc=0, argv=0x0, envp=0x0\) at /\S*/sdk/rt/start\.c", out), out
    assert run.returncode == 130  # kill ends the run as Ctrl-C does


def test_break_in_a_gate_shows_the_callee() -> None:
    out, run = debug(BUILD / "passwd" / "passwd_demo", "break passwd_check", "continue", "bt 1", "detach")
    assert "Breakpoint 1, passwd_check" in out, out
    assert run.returncode == 0
    assert "check alice/correct horse: 1" in run.stdout


def test_twzemu_debug_starts_gdb_attached() -> None:
    commands = "break main\ncontinue\nprint $pc == main\ncontinue\nquit\n"
    run = subprocess.run(
        [*TWZEMU, "debug", str(BUILD / "hello")], input=commands, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert "Breakpoint 1, main () at hello.c" in run.stdout
    assert "$1 = 1" in run.stdout and "exited normally" in run.stdout
    assert run.returncode == 0


def test_stepi_across_a_gate_entry_lands_on_the_gate_in_the_callee() -> None:
    out, _run = debug(
        BUILD / "passwd" / "passwd_demo",
        "break passwd_check@plt",
        "continue",
        "set $caller_rsp = (long) $rsp",
        "stepi",
        "print $pc == passwd_check",
        "print ((long) $rsp >> 30) != ($caller_rsp >> 30)",  # the callee's fresh stack, in another slot
        "print $rdi",
        "kill",
    )
    assert "Breakpoint 1, 0x" in out and "in passwd_check@plt" in out, out
    assert "$1 = 1" in out and "$2 = 1" in out and "$3 = 1" in out, out


def test_monitor_compartment_names_the_callee_inside_a_gate() -> None:
    out, _run = debug(
        BUILD / "passwd" / "passwd_demo",
        "monitor compartment",
        "break passwd_check",
        "continue",
        "monitor compartment",
        "monitor compartments",
        "kill",
    )
    first, inside = re.findall(r"^compartment (\S+) \(id (\d+)\) cr3 0x[0-9a-f]+$", out, re.MULTILINE)
    # stopped before any guest instruction: the first is an initialiser of the last compartment (dependencies first)
    assert first == ("passwd_demo::libpasswd.so", "3") and inside == ("passwd_demo::libpasswd.so", "3"), out
    assert re.search(r"^  slot 0xa 0x280000000 r-x libpasswd.so text$", out, re.MULTILINE), out
    assert re.search(r"^  slot 0x3fd 0xff40000000 r-- passwd_demo::libpasswd.so:thread info$", out, re.MULTILINE), out
    assert re.search(r"^\* 3 passwd_demo::libpasswd.so cr3 0x", out, re.MULTILINE), out


def test_ctrl_c_stops_a_spinning_guest_with_sigint() -> None:
    """gdb's Ctrl-C is a 0x03 byte while the guest runs (the same bytes gdb sends, without gdb's terminal)."""
    from twzemu.debug import rsp

    twzemu = subprocess.Popen(
        [*TWZEMU, "run", "--gdb", "0", str(BUILD / "spin")], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    assert twzemu.stderr is not None
    port = int(twzemu.stderr.readline().rsplit(":", 1)[1])
    reader = rsp.PacketReader()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as gdb:

        def reply() -> bytes:
            while True:
                packets = [event for event in reader.feed(gdb.recv(4096)) if isinstance(event, rsp.Packet)]
                if packets:
                    return packets[0].data

        gdb.sendall(rsp.frame(b"?"))
        assert reply() == b"T05thread:1;"  # stopped, and which thread did
        gdb.sendall(rsp.frame(b"c"))
        time.sleep(0.3)
        gdb.sendall(bytes([rsp.INTERRUPT_BYTE]))
        assert reply() == b"T02thread:1;"
        gdb.sendall(rsp.frame(b"k"))
    assert twzemu.wait(timeout=30) == 130


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "10.0.0.1:1234",
            "twzemu run: --gdb 10.0.0.1:1234: 10.0.0.1 is not local; add --gdb-allow-remote to listen there",
        ),
        ("abc", "twzemu run: --gdb abc: PORT must be a number"),
        ("70000", "twzemu run: --gdb 70000: PORT must be 0 to 65535"),
    ],
)
def test_a_bad_or_remote_gdb_address_is_a_usage_error(address: str, message: str) -> None:
    run = subprocess.run(
        [*TWZEMU, "run", "--gdb", address, str(BUILD / "hello")], capture_output=True, text=True, cwd=ROOT
    )
    assert (run.returncode, run.stderr, run.stdout) == (2, message + "\n", "")


PASSWD = BUILD / "passwd" / "passwd_demo"
COMPARTMENT_LINE = re.compile(r"^compartment (\S+) \(id (\d+)\) cr3 0x[0-9a-f]+$", re.MULTILINE)


def test_bt_up_and_finish_inside_a_gate_reach_the_callers_frame() -> None:
    out, run = debug(
        PASSWD,
        "break passwd_check",
        "continue",
        "bt",
        "up",
        "info frame",
        "down",
        "finish",
        "monitor compartment",
        "detach",
    )
    frames = re.findall(r"^#(\d)\s+(?:0x[0-9a-f]+ in )?(\w+) \(", out, re.MULTILINE)
    assert [name for _n, name in frames[:3]] == ["passwd_check", "check", "main"], out
    assert re.search(r"^#1 .* in check \(.*main\.c:22", out, re.MULTILINE), out  # up: the caller, across the crossing
    assert "Value returned is $1 = 1" in out, out
    assert [name for name, _id in COMPARTMENT_LINE.findall(out)] == ["passwd_demo"], out  # finish: back in the caller
    assert run.returncode == 0 and "check alice/correct horse: 1" in run.stdout


def gate_returns(gate: str) -> list[str]:
    """The addresses of the ``ret`` instructions of ``gate`` in the password service, from gdb's disassembly."""
    out, _run = debug(PASSWD, f"disassemble {gate}", "kill")
    return re.findall(r"^\s+(0x[0-9a-f]+) <\+\d+>:\s+ret", out, re.MULTILINE)


def test_stepi_on_the_gates_return_lands_after_the_call_in_the_caller() -> None:
    returns = gate_returns("passwd_check")
    assert returns
    commands = [f"break *{address}" for address in returns]
    out, _run = debug(
        PASSWD, *commands, "continue", "monitor compartment", "stepi", "monitor compartment", "bt 1", "kill"
    )
    inside, after = COMPARTMENT_LINE.findall(out)
    assert inside[0] == "passwd_demo::libpasswd.so" and after[0] == "passwd_demo", out
    assert "twzemu: trace: return T1 passwd_demo::libpasswd.so -> passwd_demo passwd_check = 1" in out, out
    assert re.search(r"^#0 +0x[0-9a-f]+ in (check|main) \(", out, re.MULTILINE), out  # just after the call


def test_next_over_a_gate_call_steps_over_the_whole_crossing() -> None:
    out, _run = debug(PASSWD, "break main.c:37", "continue", "next", "monitor compartment", "kill")
    assert re.search(r"^38\s+show\(\"plugin reads the database\"", out, re.MULTILINE), out
    assert [name for name, _id in COMPARTMENT_LINE.findall(out)] == ["passwd_demo"], out
    assert "twzemu: trace: enter" not in out  # next does not stop inside, nor print the crossing


def test_a_violation_stops_in_gdb_before_the_unwinding_and_continuing_carries_on_as_without_gdb() -> None:
    out, run = debug(PASSWD, "continue", "bt 1", "monitor compartment", *["continue"] * 5)
    violation = "twzemu: security violation: read database+0x8 (0x2c0002148) in passwd_demo::libpasswd.so from "
    assert violation in out, out
    assert "Program received signal SIGSEGV" in out, out
    assert re.search(r"^#0 +plugin_run \(attack=1", out, re.MULTILINE), out  # at the faulting instruction
    assert COMPARTMENT_LINE.findall(out)[0][0] == "passwd_demo::libplugin.so", out
    assert "exited normally" in out, out
    plain = subprocess.run([*TWZEMU, "run", str(PASSWD)], capture_output=True, text=True, cwd=ROOT)
    assert (run.returncode, run.stdout) == (plain.returncode, plain.stdout)
    assert run.stderr == plain.stderr  # after the "waiting for gdb" line, which debug() reads


def test_a_fatal_fault_ends_as_killed_by_sigsegv_with_the_same_status() -> None:
    out, run = debug(BUILD / "faults" / "null_read", "continue", "print $pc == main", "continue")
    assert "twzemu: fault: read 0x0" in out and "Program received signal SIGSEGV" in out, out
    assert "$1 = 1" in out, out
    assert "Program terminated with signal SIGSEGV" in out, out
    assert run.returncode == 139 and "twzemu: fault: read 0x0" in run.stderr


def test_an_invalid_instruction_is_sigill() -> None:
    out, run = debug(BUILD / "faults" / "bad_insn", "continue", "kill")
    assert "Program received signal SIGILL" in out, out
    assert run.returncode == 130


def test_watchpoints_fire_on_the_callees_accesses_after_the_instruction() -> None:
    out, _run = debug(
        PASSWD,
        "break passwd_set",
        "continue",
        "watch -l database[0].hash",
        "continue",
        "print database[0].user",
        "delete",
        "rwatch -l database[0].hash",
        "continue",
        "monitor compartment",
        "kill",
    )
    assert re.search(r"Old value = 0\nNew value = \d+", out), out
    assert "$1 = 1" in out, out  # stopped after the store: the entry is written
    assert re.search(r"Hardware read watchpoint 3: -location database\[0\]\.hash\n\nValue = \d+", out), out
    assert re.search(r"passwd_check \(user=user@entry=1\) at passwd/passwd\.c", out), out
    assert COMPARTMENT_LINE.findall(out)[-1][0] == "passwd_demo::libpasswd.so", out


def test_registers_beyond_the_general_ones_read_and_write() -> None:
    out, _run = debug(
        BUILD / "hello",
        "break main",
        "continue",
        "print $fs_base != 0",
        "print $mxcsr",
        "print $fctrl",
        "set $rax = 0x1234",
        "print/x $rax",
        "set $xmm1.v2_int64[0] = 77",
        "print $xmm1.v2_int64[0]",
        "print $st0",
        "kill",
    )
    assert "$1 = 1" in out, out
    assert re.search(r"\$2 = \[ IM DM ZM OM UM PM \]", out), out
    assert "$3 = 895" in out, out  # 0x37f: the psABI's x87 control word
    assert "$4 = 0x1234" in out and "$5 = 77" in out and "$6 = 0" in out, out


def test_memory_the_current_compartment_does_not_map_is_an_error() -> None:
    out, _run = debug(PASSWD, "break main", "continue", "print 'passwd.c'::database", "x/i passwd_check", "kill")
    assert "Cannot access memory at address 0x2c0002140" in out, out  # the service's data: not the program's
    assert re.search(r"<passwd_check>:\s+\w+", out), out  # its code is readable from anywhere, to disassemble


def test_monitor_commands_show_the_crossing_stack_and_gates() -> None:
    out, _run = debug(
        PASSWD,
        "break find",
        "continue",
        "monitor crossings",
        "monitor backtrace",
        "monitor gates",
        "monitor help",
        "monitor break-crossings on",
        "delete",
        "continue",
        "monitor break-crossings off",
        "monitor nonsense",
        "info threads",
        "kill",
    )
    assert "enter T1 passwd_demo -> passwd_demo::libpasswd.so passwd_set(0x1)\n" in out, out
    assert re.search(r"^#0 +0x[0-9a-f]+ passwd_set\+0x\w+ in passwd_demo::libpasswd.so$", out, re.MULTILINE), out
    assert "    crossing: enter T1 passwd_demo -> passwd_demo::libpasswd.so passwd_set(0x1)" in out, out
    assert re.search(r"^#1 +0x[0-9a-f]+ main\+0x\w+ in passwd_demo$", out, re.MULTILINE), out
    assert re.search(
        r"^passwd_check at 0x280001000 in passwd_demo::libpasswd.so \(libpasswd.so\), 1 arguments", out, re.M
    )
    assert "monitor break-crossings on|off: " in out, out
    assert "twzemu: trace: return T1 passwd_demo::libpasswd.so -> passwd_demo passwd_set = 0" in out, out
    assert "unknown monitor command 'nonsense'" in out, out
    assert 'Thread 1 "T1 (passwd_demo)"' in out, out


def test_a_library_with_garbage_unwind_information_is_debugged_with_ordinary_frames(tmp_path: Path) -> None:
    """A library's ELF contents are hostile: a corrupt .eh_frame must not take the stub down."""
    from elftools.elf.elffile import ELFFile

    for name in ("passwd_demo", "libpasswd.so", "libplugin.so"):
        shutil.copy(BUILD / "passwd" / name, tmp_path / name)
    library = tmp_path / "libpasswd.so"
    data = bytearray(library.read_bytes())
    cie = b"\x30\x00\x00\x00\xff\xff\xff\xff\x07\x41"  # CIEs of an unknown augmentation: pyelftools asserts
    with open(library, "rb") as stream:
        elf = ELFFile(stream)
        for name in (".eh_frame", ".debug_frame"):
            section = elf.get_section_by_name(name)
            offset, size = section["sh_offset"], section["sh_size"]
            data[offset : offset + size] = (cie * (size // len(cie) + 1))[:size]
    library.write_bytes(data)
    out, run = debug(tmp_path / "passwd_demo", "break passwd_check", "continue", "bt", "monitor backtrace", "kill")
    assert "Breakpoint 1, passwd_check" in out, out
    assert re.search(r"^#0 +0x[0-9a-f]+ passwd_check\+0x0 in passwd_demo::libpasswd.so$", out, re.MULTILINE), out
    assert "Traceback" not in run.stderr and run.returncode == 130, run.stderr


def test_info_threads_lists_every_thread_and_gdb_reads_each_ones_registers() -> None:
    """guests/threads/gated under gdb: the thread that hits a breakpoint in the library is the one gdb switches
    to (the stop names it); every live thread is listed, named after the compartment it is in (a thread waiting in
    a system call is in the monitor); each thread's registers are its own (each has its own stack); detaching lets
    them all run on."""
    out, run = debug(
        BUILD / "threads" / "gated",
        "break churn",
        "continue",
        "info threads",
        "thread apply all p/x $rsp",
        "delete",
        "detach",
    )
    assert re.search(r'Thread \d+ "T\d+ \(gated::libtally\.so\)" hit Breakpoint 1, churn', out), out
    names = re.findall(r'^\*?\s+\d+\s+Thread \d+ "(T\d+) \((?:gated|gated::libtally\.so|monitor)\)"', out, re.MULTILINE)
    assert len(names) >= 3 and "T1" in names, out
    stacks = re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", out, re.MULTILINE)
    assert len(stacks) == len(names) and len(set(stacks)) == len(stacks), out
    assert run.returncode == 0
    assert run.stdout.endswith("after end 0, tally again 1, total 3000\n")


def test_a_library_loaded_by_dlopen_is_a_library_event_and_its_breakpoints_resolve() -> None:
    """guests/dl/loader under gdb: a breakpoint on a function of a library no one links against stays pending
    until dlopen loads it; the stop that dlopen makes says the libraries changed, gdb reloads its list, sets the
    breakpoint and goes on by itself; the breakpoint then stops the call, and the library is in gdb's list."""
    out, run = debug(
        BUILD / "dl" / "loader",
        "set breakpoint pending on",
        "break plugin_add",
        "continue",
        "bt 2",
        "info sharedlibrary",
        "delete",
        "continue",
    )
    assert re.search(r"Breakpoint 1, plugin_add \(a=.*\) at dl/plugin\.c:\d+", out), out
    assert re.search(r"^#1 +0x[0-9a-f]+ in main \(\) at dl/loader\.c:\d+", out, re.MULTILINE), out
    assert re.search(r"0x0*180001000 +0x[0-9a-f]+ +Yes +\S*/build/dl/libplugin\.so", out), out
    assert "exited normally" in out
    assert run.returncode == 0 and run.stdout.startswith("constructor: plugin ready\n")


def test_a_compartment_dlopen_made_is_a_library_event_and_monitor_gates_lists_its_gates() -> None:
    """guests/dl/isolated under gdb: libvault.so, which declares gates, becomes a compartment when dlopen loads it;
    a pending breakpoint in its gate resolves and stops the call, gdb lists the library, and `monitor gates` lists
    its gates in that compartment."""
    out, run = debug(
        BUILD / "dl" / "isolated",
        "set breakpoint pending on",
        "break vault_deposit",
        "continue",
        "info sharedlibrary",
        "monitor gates",
        "delete",
        "continue",
    )
    assert re.search(r"Breakpoint 1, vault_deposit \(amount=1\) at dl/vault\.c:\d+", out), out
    assert re.search(r"Yes +\S*/build/dl/libvault\.so", out), out
    assert re.search(r"vault_deposit at 0x[0-9a-f]+ in isolated::libvault\.so \(libvault\.so\)", out), out
    assert "exited normally" in out
    assert run.returncode == 0 and "three threads deposited 3000" in run.stdout
