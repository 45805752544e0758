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
    assert "_start () at rt/crt0.S" in out
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
    assert first == ("passwd_demo", "1") and inside == ("passwd_demo::libpasswd.so", "3"), out
    assert re.search(r"^  slot 0xa 0x280000000 r-x libpasswd.so text$", out, re.MULTILINE), out
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
        assert reply() == b"S05"
        gdb.sendall(rsp.frame(b"c"))
        time.sleep(0.3)
        gdb.sendall(bytes([rsp.INTERRUPT_BYTE]))
        assert reply() == b"S02"
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
