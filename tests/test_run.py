"""`twzemu run` end to end, as a user sees it: output, exit statuses, one-line reports, bad input."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
from conftest import CLI, ROOT, guest, one_line, twzemu


def test_hello_prints_and_exits_zero():
    done = twzemu("run", str(guest("hello")))
    assert (done.status, done.stdout, done.stderr) == (0, "hello\n", "")


def test_exit_status_is_the_guests():
    done = twzemu("run", str(guest("exitcode")))
    assert done.status == 42
    assert done.stdout == "exiting with 42\n"


def test_verbose_lists_objects_slots_and_compartment():
    done = twzemu("run", "--verbose", str(guest("hello")))
    assert done.status == 0
    assert re.search(
        r"loaded hello: text 0x[0-9a-f]{32} slot 2 \(0x80000000\), data 0x[0-9a-f]{32} slot 3", done.stderr
    )


# fault guest -> the start of its one-line report; status 139 for all (DESIGN.md "Guest ABI")
FAULTS = {
    "null_read": r"twzemu: fault: read 0x0 \(0x0\) in no object from null_read at main\+0x0$",
    "write_text": r"twzemu: security violation: write main\+0x0 \(0x80001\w+\) in write_text from write_text at main",
    "exec_data": r"twzemu: security violation: execute payload\+0x0 \(0xc00\w+\) in exec_data from exec_data at pay",
    "exec_stack": r"twzemu: security violation: execute exec_stack:stack\+0x\w+ \(0x\w+\) in exec_stack from exec_st",
    "bad_insn": r"twzemu: fault: invalid opcode \(ud2\) at main\+0x0 \(0x8000\w+\) in bad_insn$",
    "move_tp": r"twzemu: fault: invalid opcode \(wrfsbase rax\) at main\+0x\w+ \(0x8000\w+\) in move_tp$",
    "divide": r"twzemu: fault: divide error \(i?div .*\) at main\+0x\w+ \(0x8000\w+\) in divide$",
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_faulting_guest_gets_one_line_report_and_139(name):
    done = twzemu("run", str(guest(f"faults/{name}")))
    assert done.status == 139
    assert re.match(FAULTS[name], one_line(done.stderr))
    assert "not reached" not in done.stdout


def test_timeout_stops_a_spinning_guest_with_124():
    started = time.monotonic()
    done = twzemu("run", "--timeout", "0.5", str(guest("spin")))
    assert done.status == 124
    assert time.monotonic() - started < 20
    assert one_line(done.stderr) == "twzemu: timeout: spin still running after 0.5 s"


def spawn_run(name: str, *options: str) -> subprocess.Popen[bytes]:
    """``twzemu run <guest>`` in the background, its output on pipes, as a shell would start it."""
    command = [*CLI, "run", *options, str(guest(name))]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_ctrl_c_stops_a_spinning_guest_with_130():
    process = spawn_run("spin", "--verbose")
    assert process.stderr is not None
    while not process.stderr.readline().startswith(b"twzemu: cpu: "):  # the last line before the guest runs
        pass
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert one_line(stderr.decode()) == "twzemu: interrupted: spin stopped"


def test_a_reader_that_leaves_early_is_not_an_error():
    """`twzemu run prog | head -1`: output to a closed pipe ends the run quietly, as with any Unix filter."""
    process = spawn_run("hello")
    process.stdout.close()  # before the guest writes anything: its first write meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and stderr == ""


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _patched(tmp_path, offset: int, value: bytes) -> str:
    data = bytearray(guest("hello").read_bytes())
    data[offset : offset + len(value)] = value
    path = tmp_path / "patched"
    path.write_bytes(bytes(data))
    return str(path)


BAD_FILES = {
    "missing": (lambda tmp: str(tmp / "nope"), r"nope: no such file"),
    "directory": (lambda tmp: str(tmp), r"is a directory"),
    "text": (lambda tmp: _write(tmp / "t.txt", b"hi\n"), r"not an ELF file"),
    "empty": (lambda tmp: _write(tmp / "e", b""), r"not an ELF file"),
    "arm64": (lambda tmp: _patched(tmp, 18, (183).to_bytes(2, "little")), r"wrong architecture EM_AARCH64"),
    "32-bit": (lambda tmp: _patched(tmp, 4, b"\x01"), r"not a 64-bit little-endian ELF"),
    "exec": (lambda tmp: _patched(tmp, 16, (2).to_bytes(2, "little")), r"ET_EXEC is not loadable"),
    "truncated": (lambda tmp: _write(tmp / "tr", guest("hello").read_bytes()[:100]), r"tr: malformed ELF file"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_are_one_line_errors_with_127(tmp_path, kind):
    make, pattern = BAD_FILES[kind]
    done = twzemu("run", make(tmp_path))
    assert done.status == 127, done.stderr
    line = one_line(done.stderr)
    assert line.startswith("twzemu: ")
    assert re.search(pattern, line)


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["run", "--timeout", "soon", "hello"],
        ["run", "--timeout", "-1", "hello"],
        ["run", "--bogus", "hello"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_usage_is_one_line_with_status_2(args):
    done = twzemu(*args)
    assert done.status == 2
    line = one_line(done.stderr)
    assert line.startswith("twzemu")


def test_arguments_after_prog_are_not_options():
    done = twzemu("run", str(guest("hello")), "--timeout", "x")
    assert done.status == 0


def test_help_teaches():
    done = twzemu("run", "--help")
    assert done.status == 0
    assert "--timeout" in done.stdout and "Exit status" in done.stdout


def test_installed_entry_point_works():
    binary = ROOT / ".venv" / "bin" / "twzemu"
    if not binary.exists():
        pytest.fail("make did not install .venv/bin/twzemu")
    done = subprocess.run([binary, "run", guest("hello")], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "hello\n")
