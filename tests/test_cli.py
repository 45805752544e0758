"""The command-line contract (issue 9, item 6), through the real CLI: what a new user types and what they see.

Every user error is lines of ``twzemu: …`` and an exit status (2 usage, 127 a file or a link failure), never a
Python traceback unless ``--debug`` is given, before the command or after it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import cc, guest, one_line, twzemu

from twzemu.toolchain import Toolchain

USAGE = 2
BAD_FILE = 127

ENV_GUEST = """#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *value = getenv(argv[i]);
        printf("%s=%s\\n", argv[i], value ? value : "(unset)");
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def env_guest(tmp_path_factory) -> Path:
    """A program that prints ``NAME=value`` (or ``NAME=(unset)``) for each NAME in its argv."""
    directory = tmp_path_factory.mktemp("env")
    (directory / "env.c").write_text(ENV_GUEST)
    cc("-o", "env", "env.c", cwd=directory)
    return directory / "env"


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


# -- --debug, before and after the command ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--debug", "run", "no-such-program"),
        ("run", "--debug", "no-such-program"),
        ("run", "--timeout", "5", "--debug", "no-such-program"),
    ],
)
def test_debug_before_or_after_run_shows_the_traceback(args):
    done = twzemu(*args)
    assert done.status == BAD_FILE
    assert "Traceback" in done.stderr
    assert done.stderr.rstrip().endswith("twzemu: no-such-program: no such file")


def test_without_debug_an_error_is_one_line():
    done = twzemu("run", "no-such-program")
    assert (done.status, one_line(done.stderr)) == (BAD_FILE, "twzemu: no-such-program: no such file")


def test_debug_after_prog_belongs_to_the_guest(env_guest):
    done = twzemu("run", str(env_guest), "--debug")
    assert (done.status, done.stdout, done.stderr) == (0, "--debug=(unset)\n", "")


@pytest.mark.parametrize("args", [("--debug", "cc"), ("cc", "--debug"), ("cc", "--twz-verbose", "--debug")])
def test_debug_before_or_after_cc_shows_the_traceback(args):
    done = twzemu(*args)
    assert done.status == USAGE
    assert "Traceback" in done.stderr


@pytest.mark.parametrize("args", [("--debug", "store", "ls"), ("store", "--debug", "ls"), ("store", "ls", "--debug")])
def test_debug_before_or_after_store_shows_the_traceback(args, tmp_path):
    done = twzemu(*args, env={"TWZEMU_STORE": ""})
    assert done.status == USAGE
    assert "Traceback" in done.stderr
    assert done.stderr.rstrip().endswith("twzemu: store: no store named: use --store DIR or set TWZEMU_STORE")
    listed = twzemu(*args, "--store", str(tmp_path))
    assert (listed.status, listed.stdout, listed.stderr) == (0, "", "")


# -- link failures: every problem, and a non-gate named as such ------------------------------------------------------

LIBFOO = """#include <twz.h>
long foo_gate(long x) { return x + 1; }
TWZ_GATE(foo_gate);
long foo_private(long x) { return x * 2; }
long foo_hidden(long x) { return x * 3; }
long gone(long x) { return x; }
"""
PROG = """#include <stdio.h>
long foo_gate(long); long foo_private(long); long foo_hidden(long); long gone(long);
int main(void) { printf("%ld\\n", foo_gate(1) + foo_private(2) + foo_hidden(3) + gone(4)); return 0; }
"""


@pytest.fixture(scope="module")
def non_gates(tmp_path_factory) -> Path:
    """``prog`` calls a gate of the isolated ``libfoo.so``, two of its plain functions, and ``gone``, which the
    library no longer defines (it was rebuilt after ``prog`` was linked)."""
    directory = tmp_path_factory.mktemp("nongates")
    (directory / "foo.c").write_text(LIBFOO)
    (directory / "prog.c").write_text(PROG)
    cc("-shared", "-o", "libfoo.so", "foo.c", cwd=directory)
    cc("-o", "prog", "prog.c", "-L.", "-lfoo", cwd=directory)
    (directory / "foo.c").write_text(LIBFOO.replace("long gone(long x) { return x; }\n", ""))
    cc("-shared", "-o", "libfoo.so", "foo.c", cwd=directory)
    return directory


def test_a_link_failure_prints_every_problem_one_line_each(non_gates):
    done = twzemu("run", "./prog", cwd=non_gates)
    assert (done.status, done.stdout) == (BAD_FILE, "")
    no_traceback(done.stderr)
    relocation = r"twzemu: \./prog: R_X86_64_JUMP_SLOT at 0x[0-9a-f]+: "
    patterns = [
        relocation + re.escape("undefined symbol foo_private (defined in prog::libfoo.so, but not a gate)"),
        relocation + re.escape("undefined symbol foo_hidden (defined in prog::libfoo.so, but not a gate)"),
        relocation + re.escape("undefined symbol gone"),
    ]
    lines = done.stderr.splitlines()
    assert len(lines) == len(patterns), done.stderr
    for pattern in patterns:
        assert sum(bool(re.fullmatch(pattern, line)) for line in lines) == 1, (pattern, done.stderr)


def test_the_non_gates_link_once_the_library_shares_the_compartment(non_gates):
    """What the message hints at: in the program's own compartment, the library's plain functions are visible."""
    done = twzemu("run", "--no-isolate", "libfoo.so", "./prog", cwd=non_gates)
    assert done.status == BAD_FILE
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith(": undefined symbol gone"), done.stderr


# -- --caller-isolation NAME=LEVEL ----------------------------------------------------------------------------------

CLIENT = "isolation/client"  # links libcounter.so, which declares gates: compartments client, client::libcounter.so


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "nope=full",
            "twzemu: --caller-isolation nope: no compartment of that name (the compartments: client, "
            "client::libcounter.so)",
        ),
        (
            "libtwzrt.so=full",
            "twzemu: --caller-isolation libtwzrt.so: a library loaded into client and "
            "client::libcounter.so, not a compartment (the compartments: client, client::libcounter.so)",
        ),
        (
            "client=bogus",
            "twzemu run: argument --caller-isolation: unknown isolation level 'bogus' (one of none, "
            "callee, caller, full) (see `twzemu run --help`)",
        ),
        ("client", "twzemu run: argument --caller-isolation: takes NAME=LEVEL, not 'client' (see `twzemu run --help`)"),
        ("=full", "twzemu run: argument --caller-isolation: takes NAME=LEVEL, not '=full' (see `twzemu run --help`)"),
    ],
)
def test_a_bad_caller_isolation_is_a_usage_error_naming_it(option, message):
    done = twzemu("run", "--caller-isolation", option, str(guest(CLIENT)))
    assert (done.status, done.stdout, one_line(done.stderr)) == (USAGE, "", message)


def test_caller_isolation_takes_every_name_of_a_compartment():
    plain = twzemu("run", str(guest(CLIENT)))
    names = ["client", str(guest(CLIENT)), "libcounter.so", "client::libcounter.so"]
    done = twzemu("run", *(f"--caller-isolation={name}=none" for name in names), str(guest(CLIENT)))
    assert (done.status, done.stdout, done.stderr) == (plain.status, plain.stdout, plain.stderr)


# -- a library is not a program -------------------------------------------------------------------------------------


@pytest.mark.parametrize("library", ["runtime", "isolation/libcounter.so", "levels/liblevel_full.so"])
def test_running_a_library_says_so(library, tmp_path):
    path = Toolchain.locate().runtime_dir / "libtwzrt.so" if library == "runtime" else guest(library)
    done = twzemu("run", str(path))
    assert (done.status, done.stdout) == (BAD_FILE, "")
    assert one_line(done.stderr) == f"twzemu: {path}: a shared library, not a program"
    renamed = tmp_path / "tool"  # the name does not matter: the file has no entry point
    renamed.write_bytes(path.read_bytes())
    done = twzemu("run", "tool", cwd=tmp_path)
    assert (done.status, one_line(done.stderr)) == (BAD_FILE, "twzemu: tool: a shared library, not a program")


def test_a_program_is_still_a_program():
    done = twzemu("run", str(guest("hello")))
    assert (done.status, done.stderr) == (0, "")
    assert done.stdout


# -- twzemu cc ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [(), ("-c",), ("-shared",), ("-o", "prog"), ("-Wall", "-O2", "-L.", "-lfoo"), ("-x", "c")]
)
def test_cc_without_an_input_file_prints_its_usage(args, tmp_path):
    done = twzemu("cc", *args, cwd=tmp_path)
    assert done.status == USAGE
    no_traceback(done.stderr)
    assert done.stderr.splitlines() == [
        "usage: twzemu cc [--debug] [--twz-verbose] [GCC ARGS...] FILE...",
        "twzemu cc: no input files: name a C, assembly or object file to build (see `twzemu cc --help`)",
    ]
    assert list(tmp_path.iterdir()) == []


def test_cc_still_answers_gccs_questions():
    done = twzemu("cc", "--version")
    assert done.status == 0 and done.stdout
    done = twzemu("cc", "-print-file-name=include")
    assert done.status == 0 and Path(done.stdout.strip()).is_dir()


def test_cc_help_teaches():
    done = twzemu("cc", "--help")
    assert done.status == 0
    assert "-rpath-link" in done.stdout and "Exit status" in done.stdout and "--debug" in done.stdout


def test_a_library_with_its_own_dependencies_links_from_the_same_directory(tmp_path):
    """ld looks for a library's DT_NEEDED only along -rpath-link: `twzemu cc` passes each -L directory as one."""
    (tmp_path / "one.c").write_text("long one(void) { return 1; }\n")
    (tmp_path / "top.c").write_text("long one(void);\nlong top(void) { return one() + 41; }\n")
    (tmp_path / "main.c").write_text("long top(void);\nint main(void) { return (int)top(); }\n")
    (tmp_path / "lib dir").mkdir()  # a space: each directory is one linker argument
    cc("-shared", "-o", "lib dir/libone.so", "one.c", cwd=tmp_path)
    cc("-shared", "-o", "lib dir/libtop.so", "top.c", "-Llib dir", "-lone", cwd=tmp_path)
    cc("-o", "main", "main.c", "-L", "lib dir", "-ltop", cwd=tmp_path)
    done = twzemu("run", "-L", "lib dir", "./main", cwd=tmp_path)
    assert (done.status, done.stderr) == (42, "")


# -- the guest's environment ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), "FOO=host\nBAR=(unset)\n"),  # inherited from twzemu's own environment
        (("--clear-env",), "FOO=(unset)\nBAR=(unset)\n"),
        (("--env", "BAR=1"), "FOO=host\nBAR=1\n"),
        (("--env", "FOO=mine", "--env", "FOO=last"), "FOO=last\nBAR=(unset)\n"),
        (("--env", "BAR=a=b", "--clear-env"), "FOO=(unset)\nBAR=a=b\n"),  # --env applies after, whatever the order
        (("--clear-env", "--env", "BAR=a=b"), "FOO=(unset)\nBAR=a=b\n"),
        (("--env", "FOO="), "FOO=\nBAR=(unset)\n"),
    ],
)
def test_the_guest_environment(env_guest, options, expected):
    done = twzemu("run", *options, str(env_guest), "FOO", "BAR", env={"FOO": "host"})
    assert (done.status, done.stdout, done.stderr) == (0, expected, "")


@pytest.mark.parametrize("value", ["FOO", "=x", ""])
def test_a_bad_env_is_a_usage_error(env_guest, value):
    done = twzemu("run", "--env", value, str(env_guest))
    assert (done.status, done.stdout) == (USAGE, "")
    assert one_line(done.stderr) == (
        f"twzemu run: argument --env: takes NAME=VALUE, not {value!r} (see `twzemu run --help`)"
    )


def test_run_help_teaches():
    done = twzemu("run", "--help")
    assert done.status == 0
    text = " ".join(done.stdout.split())
    for words in ("--clear-env", "--env NAME=VALUE", "default: no limit", "Exit status", "127", "139", "124"):
        assert words in text, words


def test_every_bad_isolation_option_is_one_line_each():
    """Policy problems are collected, not the first one raised (issue 9, item 5)."""
    done = twzemu(
        "run", "--isolate", "nope", "--no-isolate", "nada", "--caller-isolation", "foo=full", str(guest("hello"))
    )
    assert done.status == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "twzemu: --isolate nope: no library of that name is loaded",
        "twzemu: --no-isolate nada: no library of that name is loaded",
    ]
    done = twzemu("run", "--caller-isolation", "foo=full", "--caller-isolation", "bar=none", str(guest("hello")))
    assert done.status == 2
    assert done.stderr.splitlines() == [
        f"twzemu: --caller-isolation {name}: no compartment of that name (the compartments: hello)"
        for name in ("foo", "bar")
    ]
