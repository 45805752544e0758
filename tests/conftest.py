"""Shared fixtures: built guests, a CLI runner, and Hypothesis profiles (bounded under CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from twzemu import sdk

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "guests" / "build"
CLI = [sys.executable, "-m", "twzemu.cli"]  # the real command line, as `twzemu` runs it

settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


_CACHE_HOME = "XDG_CACHE_HOME"
# The user's cache before the tests' own replaces it (twzemu.cache.user_cache_dir).
USER_CACHE = Path(os.environ.get(_CACHE_HOME) or Path.home() / ".cache") / "twzemu"
_saved_cache_home: list[str | None] = []


def pytest_configure(config: pytest.Config) -> None:
    """What twzemu derives from files (``twzemu.cache``) goes to a directory of this test session, for the tests
    (collection included) and every ``twzemu`` they start: no test depends on what earlier runs left in the user's
    cache, and the mutated files of the property tests leave nothing there."""
    _saved_cache_home.append(os.environ.get(_CACHE_HOME))
    os.environ[_CACHE_HOME] = tempfile.mkdtemp(prefix="twzemu-tests-cache-")
    sdk.share_built(Path(os.environ[_CACHE_HOME]) / "twzemu", USER_CACHE)  # the runtime `make` built


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ[_CACHE_HOME], ignore_errors=True)
    previous = _saved_cache_home.pop()
    if previous is None:
        del os.environ[_CACHE_HOME]
    else:
        os.environ[_CACHE_HOME] = previous


@dataclass(frozen=True)
class Completed:
    status: int
    stdout: str
    stderr: str


def guest(name: str) -> Path:
    path = GUESTS / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is not built: run `make guests`")
    return path


def twzemu(*args: str, timeout: float = 60, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Completed:
    """Run the real CLI in a subprocess, as a user would."""
    done = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def cc(*args: str, cwd: Path) -> None:
    """``twzemu cc`` in ``cwd``, which must succeed."""
    done = twzemu("cc", *args, cwd=cwd)
    assert done.status == 0, done.stderr


def build(directory: Path, name: str, source: str, *flags: str) -> Path:
    """C ``source`` written to ``directory/NAME.c`` and built there with ``twzemu cc`` (``-shared`` among
    ``flags``: as ``libNAME.so``), warnings off."""
    (directory / f"{name}.c").write_text(source)
    output = directory / (f"lib{name}.so" if "-shared" in flags else name)
    cc("-w", "-o", str(output), str(directory / f"{name}.c"), *flags, cwd=directory)
    return output


def one_line(stderr: str) -> str:
    """The one line of a report, with no Python traceback."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]
