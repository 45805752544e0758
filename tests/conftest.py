"""Shared fixtures: built guests, a CLI runner, and Hypothesis profiles (bounded under CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "guests" / "build"

settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


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


def twzemu(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Completed:
    """Run the real CLI in a subprocess, as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "twzemu.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    return Completed(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def run_cli():
    return twzemu
