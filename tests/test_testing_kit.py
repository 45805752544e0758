"""``twzemu.testing`` (issue 15): the README's property test of a user's library, run exactly as shown; the bug it
is there to find, found; strategies drawn from DWARF types."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cc
from hypothesis import given, settings
from hypothesis import strategies as st

SECTION = (ROOT / "README.md").read_text().split("## Property tests of your own library", 1)[1].split("\n## ", 1)[0]
VAULT_C = re.search(r"```c\n(.*?)```", SECTION, re.S).group(1)
TEST_VAULT = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)


SEARCH_HARDER = """
from hypothesis import settings
settings.register_profile("harder", max_examples=600, derandomize=True, deadline=None)
settings.load_profile("harder")
"""


def pytest_in(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_vault.py"],
                          cwd=directory, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_readme_property_test_runs_as_shown(tmp_path):
    (tmp_path / "vault.c").write_text(VAULT_C)
    (tmp_path / "test_vault.py").write_text(TEST_VAULT)
    cc("-g", "-shared", "-o", "libvault.so", "vault.c", cwd=tmp_path)
    done = pytest_in(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_readme_property_test_finds_the_off_by_one(tmp_path):
    (tmp_path / "vault.c").write_text(VAULT_C.replace("slot >= 16", "slot > 16"))
    (tmp_path / "test_vault.py").write_text(TEST_VAULT)
    (tmp_path / "conftest.py").write_text(SEARCH_HARDER)  # a found bug is found every time
    cc("-g", "-shared", "-o", "libvault.so", "vault.c", cwd=tmp_path)
    done = pytest_in(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"calls = \[.*vault_(get|put)\(16", done.stdout), done.stdout
    assert "1 failed, 1 passed" in done.stdout


TYPES = """
#include <stdint.h>
#include <twz.h>
struct pair { long a, b; };
long narrow(char c, unsigned char uc, short s, unsigned short us, _Bool b) { return c + uc + s + us + b; }
TWZ_GATE(narrow);
long wide(int i, unsigned u, long l, uint8_t u8) { return i + u + l + u8; }
TWZ_GATE(wide);
long length(const char *text) { long n = 0; while (text[n]) n++; return n; }
TWZ_GATE(length);
long by_value(struct pair p) { return p.a + p.b; }
TWZ_GATE(by_value);
"""


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory):
    from twzemu.testing import Library

    directory = tmp_path_factory.mktemp("kit")
    (directory / "types.c").write_text(TYPES)
    cc("-g", "-shared", "-o", "libtypes.so", "types.c", cwd=directory)
    library = Library("libtypes.so", library_dirs=[str(directory)])
    yield library
    library.close()


def test_arguments_are_drawn_within_their_c_types(typed):
    ranges = {
        "narrow": [(-128, 127), (0, 255), (-(1 << 15), (1 << 15) - 1), (0, (1 << 16) - 1), (0, 1)],
        "wide": [(-(1 << 31), (1 << 31) - 1), (0, (1 << 32) - 1), (-(1 << 63), (1 << 63) - 1), (0, 255)],
    }

    @settings(max_examples=200)
    @given(typed.calls("narrow", "wide"))
    def inside(calls):
        for call in calls:
            for value, (low, high) in zip(call.arguments, ranges[call.function], strict=True):
                assert low <= value <= high

    inside()


def test_strings_reach_the_library_whole(typed):
    machine = typed.machine()

    @settings(max_examples=50)
    @given(typed.arguments("length"))
    def whole(arguments):
        (text,) = arguments
        assert b"\\0" not in text
        machine.restore()
        assert machine.call("length", text) == len(text)

    whole()


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_a_parameter_twzemu_cannot_draw_is_named_and_can_be_given(typed):
    from twzemu import GateTypeError

    with pytest.raises(GateTypeError, match=r"by_value: parameter p has C type pair, which twzemu cannot draw"):
        typed.arguments("by_value").example()
    with pytest.raises(GateTypeError, match=r"no function nope exported by libtypes\.so"):
        typed.calls("nope").example()
    drawn = typed.calls("by_value", strategies={"by_value": {"p": st.just(7)}}).example()
    assert all(call.arguments == (7,) for call in drawn)
