"""``twzemu call LIBRARY FUNCTION ARG…`` (issue 13): a gate called from a compartment of its own, a nando inside
its library's compartment, arguments by their C types from DWARF, results on stdout, RFC 0008's typed errors."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI, ROOT, cc, guest, twzemu

GREET = """
#include <stdio.h>
#include <string.h>
#include <twz.h>
const char *greet(const char *name)
{
    char copy[64];
    strncpy(copy, name, sizeof copy - 1);
    copy[sizeof copy - 1] = 0;
    char *buffer = twz_gate_buffer();
    strcpy(buffer, "hello ");
    strcat(buffer, copy);
    return buffer;
}
TWZ_GATE(greet);
long twice(long x) { return 2 * x; }
long who(void) { return twz_caller_compartment(); }
TWZ_GATE(who);
long shout(long x) { printf("the library prints %ld\\n", x); return x + 1; }
TWZ_GATE(shout);
void nothing(void) {}
TWZ_GATE(nothing);
unsigned long all_ones(void) { return -1; }
TWZ_GATE(all_ones);
long peek(long address) { return *(long *)address; }
TWZ_GATE(peek);
static char secret[] = "the callee's secret";
const char *leak(void) { return secret; }
TWZ_GATE(leak);
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("call")
    (directory / "greet.c").write_text(GREET)
    cc("-g", "-shared", "-o", "libgreet.so", "greet.c", cwd=directory)
    (directory / "nodebug").mkdir()
    cc("-shared", "-o", "nodebug/libgreet.so", "greet.c", cwd=directory)
    return directory


def call(library: Path, *args: str, directory: str = ""):
    return twzemu("call", "-L", str(library / directory), "libgreet.so", *args)


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (("twice", "21"), "42\n"),  # a nando, in its library's compartment
        (("twice", "0x10"), "32\n"),
        (("twice", "-4"), "-8\n"),
        (("greet", "world"), "hello world\n"),  # a char * through the gate buffer, both ways
        (("who",), "1\n"),  # a real crossing: the callee sees its caller's compartment
        (("nothing",), ""),
        (("all_ones",), "-1\n"),  # integer types print as signed decimal
    ],
)
def test_a_call_prints_only_its_result(library, args, stdout):
    done = call(library, *args)
    assert (done.status, done.stdout, done.stderr) == (0, stdout, "")


def test_what_the_library_prints_goes_to_stderr(library):
    done = call(library, "shout", "6")
    assert (done.status, done.stdout, done.stderr) == (0, "7\n", "the library prints 6\n")


def test_a_library_is_found_by_path_too(library):
    done = twzemu("call", str(library / "libgreet.so"), "twice", "5")
    assert (done.status, done.stdout) == (0, "10\n")


@pytest.mark.parametrize(
    ("args", "directory", "line"),
    [
        (("twice", "many"), "", "Type Error: twice: parameter x has C type long int: 'many' is not an integer "
         "(decimal or 0x hex)"),
        (("twice",), "", "Type Error: twice(long int x) takes 1 argument, not 0"),
        (("greet", "world"), "nodebug", "Type Error: greet: argument 1 'world' is not an integer, and "),
        (("nope",), "", "Name Error: no function nope exported by libgreet.so"),
    ],
)  # fmt: skip
def test_typed_errors_are_one_line_and_status_1(library, args, directory, line):
    done = call(library, *args, directory=directory)
    assert done.status == 1 and done.stdout == ""
    assert done.stderr.startswith(line) and done.stderr.count("\n") == 1, done.stderr


def test_a_missing_library_is_a_name_error(tmp_path):
    done = twzemu("call", "-L", str(tmp_path), "libnope.so", "f")
    assert (done.status, done.stdout) == (1, "")
    assert done.stderr.startswith("Name Error: no library libnope.so")


def test_a_callee_that_faults_is_a_security_error_with_the_report(library):
    done = call(library, "peek", "0x10")
    assert (done.status, done.stdout) == (1, "")
    first, report = done.stderr.split(": twzemu: ", 1)
    assert first == "Security Error: Failed to call peek in libgreet.so"
    assert report.startswith("fault: read 0x10 (0x10) in no object from ") and done.stderr.count("\n") == 1


def test_the_password_service_answers_from_the_command_line():
    done = twzemu("call", "-L", str(guest("passwd")), "libpasswd.so", "passwd_check", "1")
    assert (done.status, done.stdout, done.stderr) == (0, "0\n", "")


COUNTER = """
#include <twz.h>
static long total;
long bump(long by) { total += by; return total; }
TWZ_GATE(bump);
long peek_total(void) { return total; }
"""


def test_a_session_keeps_one_machine_so_state_persists(library, tmp_path):
    from twzemu import GateNameError, GateSecurityError, GateTypeError, Session

    (tmp_path / "counter.c").write_text(COUNTER)
    cc("-g", "-shared", "-o", "libcount.so", "counter.c", cwd=tmp_path)
    with Session(library_dirs=[str(tmp_path), str(library)]) as session:
        count = session.load("libcount.so")
        greet = session.load("libgreet.so")
        assert [count.call("bump", 2), count.call("bump", 40)] == [2, 42]  # one machine: the total persists
        assert count.call("peek_total") == 42  # a nando, inside the library's compartment
        assert greet.call("greet", "session") == "hello session"
        assert greet.call("greet", b"bytes") == "hello bytes"
        assert greet.call("nothing") is None and greet.call("all_ones") == -1
        with pytest.raises(GateTypeError, match="parameter x has C type long int"):
            greet.call("twice", "many")
        with pytest.raises(GateNameError, match="no function nope"):
            greet.call("nope")
        with pytest.raises(GateSecurityError, match=r"Failed to call peek in libgreet.so: twzemu: fault: read 0x10"):
            greet.call("peek", 0x10)
        assert count.call("bump", 1) == 43  # the session survives a callee's fault
        ran = session.run(str(guest("hello")))
    assert (ran.status, ran.stdout, ran.stderr) == (0, "hello\n", "")


def test_a_session_shows_memory_as_each_compartment_sees_it(tmp_path):
    from twzemu import GateNameError, GateSecurityError, Session

    (tmp_path / "counter.c").write_text(COUNTER)
    cc("-g", "-shared", "-o", "libcount.so", "counter.c", cwd=tmp_path)
    with Session(library_dirs=[str(tmp_path)]) as session:
        count = session.load("libcount.so")
        assert count.call("bump", 5) == 5
        compartments = session.compartments()
        assert list(compartments) == ["twzcall", "twzcall::libcount.so"]
        assert compartments["twzcall::libcount.so"] == ("libcount.so", "libtwzrt.so")
        total = session.address_of("libcount.so", "total")
        assert session.read(total, 8, "twzcall::libcount.so") == (5).to_bytes(8, "little")
        session.write(total, (100).to_bytes(8, "little"), "twzcall::libcount.so")
        assert count.call("bump", 1) == 101  # what was written is what the library sees
        with pytest.raises(GateSecurityError, match=r"twzcall may not read 8 bytes at total\+0x0 "):
            session.read(total, 8, "twzcall")  # the caller's page tables do not map the callee's data
        with pytest.raises(GateSecurityError, match=r"may not write 8 bytes at bump\+0x0 "):
            session.write(session.address_of("libcount.so", "bump"), bytes(8), "twzcall::libcount.so")  # text
        with pytest.raises(GateNameError, match="no compartment nowhere"):
            session.read(total, 8, "nowhere")
        assert session.crossings()[-2:] == [
            "enter T1 twzcall -> twzcall::libcount.so bump(0x1)",
            "return T1 twzcall::libcount.so -> twzcall bump = 101",
        ]
        labels = set(session.objects().values())
        assert {"twzcall::libcount.so:libcount.so data", "twzcall::libcount.so:stack", "twzcall:gate buffer"} <= labels
    with Session(library_dirs=[str(tmp_path)]) as fresh:  # nothing leaks from one session to the next
        assert fresh.load("libcount.so").call("bump", 1) == 1


def test_importing_twzemu_loads_no_api():
    import subprocess
    import sys

    code = "import sys, twzemu; print('twzemu.monitor.call' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"


def test_the_repl_keeps_results_and_survives_errors(library):
    lines = "load libgreet.so\ntwice 21\ntwice $1\n? greet\ngreet world\npeek 0x10\ntwice x\nnope\ntwice 1\n"
    done = subprocess.run([*CLI, "repl", "-L", str(library)], input=lines, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[:4] == [
        "loaded libgreet.so: 8 functions",
        "$1 = 42",
        "$2 = 84",
        "greet(const char *name) -> const char *",
    ]
    assert out[4] == "$3 = 'hello world'"
    assert out[5].startswith("Security Error: Failed to call peek in libgreet.so: twzemu: fault: read 0x10")
    assert out[6].startswith("Type Error: twice: parameter x has C type long int")
    assert out[7] == "Name Error: nope: no loaded library has it"
    assert out[8] == "$4 = 2"  # the session went on after every error


def test_the_repl_prompts_completes_and_answers_on_a_terminal(library):
    controller, terminal = pty.openpty()
    command = [*CLI, "repl", "-L", str(library), "libgreet.so"]
    environment = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1"}
    process = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, cwd=ROOT, env=environment)
    os.close(terminal)
    seen = b""

    def read_until(text: str) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text.encode() not in seen and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                seen += os.read(controller, 4096)
        assert text.encode() in seen, seen

    try:
        read_until("twz>")
        os.write(controller, b"twi\t")  # tab completes the function's name
        read_until("twice")
        os.write(controller, b" 21\r")
        read_until("$1 = 42")
        os.write(controller, b"quit\r")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        os.close(controller)


def test_a_string_result_is_read_only_as_the_caller_may_read_it(library):
    """A gate at level full returns a pointer into its own data: the caller (the CLI's compartment) may not read
    it, so the call is a Security Error and the secret is never printed (attacker's idea: make the monitor read
    for the caller what the caller's page tables refuse)."""
    done = call(library, "leak")
    assert done.status == 1 and done.stdout == "" and "callee's secret" not in done.stderr
    assert done.stderr.startswith("Security Error: Failed to call leak in libgreet.so: its result 0x")


def test_the_readme_session_example_runs_as_shown():
    """README "Python API": the second example, run exactly as shown."""
    section = (ROOT / "README.md").read_text().split("A session also shows its machine", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("{'twzcall': ('twzcall', 'libtwzrt.so'), 'twzcall::libcounter.so': ('libcounter.so'")
    assert lines[1] == repr((105).to_bytes(8, "little"))
    assert lines[2] == "8"
    assert re.fullmatch(r"Security Error: twzcall may not read 8 bytes at total\+0x0 \(0x[0-9a-f]+\)", lines[3])
    assert lines[4] == "return T1 twzcall::libcounter.so -> twzcall counter_add = 8"
