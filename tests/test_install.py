"""twzemu installed as a package (issue 12): ``pip install`` into a fresh virtual environment gives a ``twzemu``
that builds, runs and calls guests from any directory — its headers, linker script and runtime sources ship as
package data, and the runtime (musl and the glue) is built on first use into the user's cache, with one line of
progress. The package is installed from a copy of what a wheel is built from (``pyproject.toml``, ``README.md``,
``twzemu/``), so the checkout is neither read nor written by the installed twzemu.

musl's wheel is not downloaded again: the new cache starts with the user cache's download directory (``musl/``)
when it has one; everything else of the runtime is built in the test. Without a package index, the test skips
with one line, except in CI, where it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, USER_CACHE

PROGRAM = """
#include <math.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    FILE *f = fopen("note.txt", "w");
    fprintf(f, "%s", argv[1]);
    fclose(f);
    char back[32] = {0};
    f = fopen("note.txt", "r");
    fgets(back, sizeof back, f);
    printf("%s %.4f\\n", back, sqrt(2.0));
    return 0;
}
"""

LIBRARY = """
#include <twz.h>
long add(long a, long b) { return a + b; }
TWZ_GATE(add);
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A virtual environment with twzemu installed from a copy of the package, and an environment whose user
    cache is new."""
    top = tmp_path_factory.mktemp("install")
    source = top / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignored = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(ROOT / "twzemu", source / "twzemu", ignore=ignored)
    venv = top / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:
        last = pip.stderr.strip().splitlines()[-1:] or ["no output"]
        if os.environ.get("CI"):
            pytest.fail(f"pip install of twzemu failed: {last[0]}")
        pytest.skip(f"pip cannot install twzemu here (no package index?): {last[0]}")
    cache = top / "cache"
    (cache / "twzemu").mkdir(parents=True)
    downloads = USER_CACHE
    if (downloads / "musl").is_dir():
        (cache / "twzemu" / "musl").symlink_to(downloads / "musl")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("PYTHONPATH", None)
    return venv, env


def _twzemu(installed: tuple[Path, dict[str, str]], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``twzemu ARGS``, run in ``cwd`` with the new cache."""
    venv, env = installed
    return subprocess.run([str(venv / "bin/twzemu"), *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_an_installed_twzemu_builds_and_runs_a_program_from_any_directory(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    (tmp_path / "note.c").write_text(PROGRAM)
    first = _twzemu(installed, tmp_path, "cc", "note.c", "-o", "note", "-lm")
    assert first.returncode == 0, first.stderr
    progress = first.stderr.splitlines()
    assert len(progress) == 1 and progress[0].startswith("twzemu: building the guest runtime"), first.stderr
    run = _twzemu(installed, tmp_path, "run", "note", "hi")
    assert (run.returncode, run.stdout, run.stderr) == (0, "hi 1.4142\n", "")
    again = _twzemu(installed, tmp_path, "cc", "note.c", "-o", "again", "-lm")
    assert (again.returncode, again.stderr) == (0, ""), "the runtime is built once"


def test_an_installed_twzemu_calls_a_gate(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    (tmp_path / "add.c").write_text(LIBRARY)
    built = _twzemu(installed, tmp_path, "cc", "-shared", "-o", "libadd.so", "add.c")
    assert built.returncode == 0, built.stderr
    call = _twzemu(installed, tmp_path, "call", "./libadd.so", "add", "2", "40")
    assert (call.returncode, call.stdout) == (0, "42\n"), call.stderr
