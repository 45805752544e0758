"""Generated programs for the gate benchmark: a loop of gate round trips, and the same loop of plain calls.

* ``gate_program(root, n)`` — ``n`` compartments in total: the program and ``n - 1`` isolated libraries, each
  declaring one gate with ``TWZ_GATE``. ``libgate0.so`` holds ``gate_inc(x) = x + 1``, the gate the loop
  calls; ``libgateK.so`` (K ≥ 1) holds ``gate_K(x) = x + K``. The program first calls every gate once (so
  every compartment is really loaded, linked and entered), then runs ``sum += gate_inc(i)`` for ``argv[1]``
  iterations. Each call goes through the PLT to another compartment's text: a fetch fault, a crossing.
* ``plain_program(root)`` — the same loop calling ``plain_inc(x) = x + 1`` of ``libplain.so``, a library
  without gates, so it joins the program's compartment and the call is an ordinary PLT call.

Both programs take the iteration count as ``argv[1]`` and exit 0 only if every result was right (1 if the loop
sum is wrong, 2 if a warm-up gate returned a wrong value). Built with ``twzemu cc`` into ``root/N`` and
``root/plain``; rebuilt when a generated source changes or the guest toolchain (runtime, headers, linker
script) is newer than the program.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twzemu.sdk import RUNTIME_LIBRARY
from twzemu.toolchain import Toolchain

CFLAGS = ("-O2", "-Wall", "-Werror")
HOT_GATE = "gate_inc"

_LOOP = """\
    long n = argc > 1 ? (long)strtoul(argv[1], 0, 10) : 0;
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += {function}(i);
    return sum == n * (n + 1) / 2 ? 0 : 1;
"""


def gate_name(index: int) -> str:
    return HOT_GATE if index == 0 else f"gate_{index}"


def gate_library_source(index: int) -> str:
    name = gate_name(index)
    return (
        f"#include <twz.h>\n\nlong {name}(long x);\n\nlong {name}(long x)\n{{\n    return x + {max(index, 1)};\n}}\n"
        f"TWZ_GATE({name});\n"
    )


def gate_program_source(compartments: int) -> str:
    libraries = compartments - 1
    declarations = "".join(f"long {gate_name(k)}(long x);\n" for k in range(libraries))
    warm = "".join(f"    warm += {gate_name(k)}(0);\n" for k in range(libraries))
    expected = 1 + sum(range(1, libraries))
    return (
        f"#include <stdlib.h>\n\n{declarations}\nint main(int argc, char **argv)\n{{\n"
        f"    long warm = 0;\n{warm}    if (warm != {expected})\n        return 2;\n"
        f"{_LOOP.format(function=HOT_GATE)}}}\n"
    )


PLAIN_LIBRARY = "long plain_inc(long x);\n\nlong plain_inc(long x)\n{\n    return x + 1;\n}\n"
PLAIN_PROGRAM = (
    f"#include <stdlib.h>\n\nlong plain_inc(long x);\n\nint main(int argc, char **argv)\n{{\n"
    f"{_LOOP.format(function='plain_inc')}}}\n"
)


def gate_program(root: Path, compartments: int) -> Path:
    """The gate loop with ``compartments`` compartments in total (≥ 2), built if missing; returns its path."""
    if compartments < 2:
        raise ValueError("a gate crossing needs at least 2 compartments")
    libraries = {f"gate{k}": gate_library_source(k) for k in range(compartments - 1)}
    return _build(root / str(compartments), libraries, gate_program_source(compartments))


def plain_program(root: Path) -> Path:
    """The same loop calling a plain function of a library in the program's compartment; returns its path."""
    return _build(root / "plain", {"plain": PLAIN_LIBRARY}, PLAIN_PROGRAM)


def _build(directory: Path, libraries: dict[str, str], program_source: str) -> Path:
    """``lib<name>.so`` for each library and ``main`` linked against all of them, unless up to date."""
    program = directory / "main"
    sources = {directory / f"lib{name}.c": text for name, text in libraries.items()}
    sources[directory / "main.c"] = program_source
    if _up_to_date(program, sources):
        return program
    directory.mkdir(parents=True, exist_ok=True)
    program.unlink(missing_ok=True)  # exists only once everything it needs is built
    twzcc = [sys.executable, "-m", "twzemu.cli", "cc", *CFLAGS]
    for name, text in libraries.items():
        source = directory / f"lib{name}.c"
        source.write_text(text)
        _run([*twzcc, "-shared", "-o", str(directory / f"lib{name}.so"), str(source)])
    main = directory / "main.c"
    main.write_text(program_source)
    _run([*twzcc, "-o", str(program), str(main), f"-L{directory}", *(f"-l{name}" for name in libraries)])
    return program


def _up_to_date(program: Path, sources: dict[Path, str]) -> bool:
    if not program.exists() or not all(path.exists() and path.read_text() == text for path, text in sources.items()):
        return False
    toolchain = Toolchain.locate()
    runtime = toolchain.runtime_dir
    inputs = [runtime / "crt0.o", runtime / RUNTIME_LIBRARY, toolchain.linker_script, *toolchain.include.glob("*.h")]
    built = program.stat().st_mtime
    return all(not path.exists() or path.stat().st_mtime <= built for path in inputs)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"building the gate benchmark failed: {' '.join(command)}\n{done.stderr}")
