"""Whole processes, timed as a user would see them (wall clock, output discarded)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


def twzemu_command() -> list[str]:
    """The installed ``twzemu`` next to this interpreter (``make`` installs it), else ``python -m twzemu.cli``."""
    installed = Path(sys.executable).with_name("twzemu")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "twzemu.cli"]


def time_command(command: list[str], env: Mapping[str, str] | None = None) -> float:
    """Seconds one run of ``command`` takes, start to exit; it must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started
