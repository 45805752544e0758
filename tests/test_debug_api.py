"""The debugger session from Python (README "The debugger from Python"), run exactly as the README shows it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### The debugger from Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_controller_steps_into_a_gate_and_sees_the_callee() -> None:
    run = subprocess.run(
        [sys.executable, "-c", readme_example()], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "twzemu: trace: enter T1 passwd_demo -> passwd_demo::libpasswd.so passwd_set(0x1)"
    assert lines[1] == "passwd_demo::libpasswd.so passwd_set+0x0 rdi = 1"
    assert re.fullmatch(r"\['passwd_set\+0x0', 'main\+0x\w+', '__twz_start\+0x\w+', '_start\+0x\w+'\]", lines[2])
    assert "after the plugin, check alice/correct horse: 1" in lines and lines[-1] == "status 0"
