"""Generated programs for the link benchmark: a chain of N libraries with about 200 relocations each.

Library i defines 50 globals and 50 functions; each function reads its global through the GOT (``GLOB_DAT``)
and calls the same function of library i-1 through the PLT (``JUMP_SLOT``), and a table of 100 function
pointers adds 100 ``R_X86_64_64`` relocations. The program needs library N-1, which needs N-2, and so on.
Built once with ``twzemu cc`` into ``guests/build/linkbench/N``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FUNCTIONS = 50
TABLE = 100


def library_source(index: int) -> str:
    lines = [f"int g{index}_{k} = {k};" for k in range(FUNCTIONS)]
    for k in range(FUNCTIONS):
        call = f" + f{index - 1}_{k}()" if index else ""
        if index:
            lines.append(f"int f{index - 1}_{k}(void);")
        lines.append(f"int f{index}_{k}(void) {{ return g{index}_{k}{call}; }}")
    entries = ", ".join(f"f{index}_{k % FUNCTIONS}" for k in range(TABLE))
    lines.append(f"int (*table{index}[{TABLE}])(void) = {{ {entries} }};")
    return "\n".join(lines) + "\n"


def program_source(count: int) -> str:
    last = count - 1
    return f'#include <stdio.h>\nint f{last}_0(void);\nint main(void) {{ printf("%d\\n", f{last}_0()); return 0; }}\n'


def build(root: Path, count: int) -> Path:
    """The program linked against ``count`` generated libraries (built if missing); returns its path."""
    directory = root / str(count)
    program = directory / "main"
    if program.exists():
        return program
    directory.mkdir(parents=True, exist_ok=True)
    twzcc = [sys.executable, "-m", "twzemu.cli", "cc"]
    for index in range(count):
        source = directory / f"lib{index}.c"
        source.write_text(library_source(index))
        needs = [f"-L{directory}", f"-llb{index - 1}"] if index else []
        _run([*twzcc, "-O1", "-shared", "-o", str(directory / f"liblb{index}.so"), str(source), *needs])
    (directory / "main.c").write_text(program_source(count))
    _run(
        [
            *twzcc,
            "-O1",
            "-o",
            str(program),
            str(directory / "main.c"),
            f"-L{directory}",
            f"-Wl,-rpath-link,{directory}",
            f"-llb{count - 1}",
        ]
    )
    return program


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"building the link benchmark failed: {' '.join(command)}\n{done.stderr}")
