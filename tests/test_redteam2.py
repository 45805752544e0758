"""A second red-team review (after tests/test_redteam.py): per-(callee, caller) page tables, grants by binding,
the gate buffer's message rules, on-demand initialisers, the level-none shared stack, tracing and report lines.

Guests are guests/attacks/redteam2/ (built into guests/build/redteam2/) or copies of earlier guests patched in
tmp_path, run through the real CLI. Every attempt is kept: where isolation held the test checks the secure
outcome; where it did not, the test states the secure outcome and fails until the hole is closed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import guest, twzemu

# == Holes: each test states the secure outcome; it fails while the hole is open =================================


def _patched(tmp_path: Path, name: str, old: bytes, new: bytes) -> Path:
    """A copy of redteam/``name`` in tmp_path with every ``old`` string (NUL-terminated) replaced by ``new``."""
    assert len(old) == len(new)
    data = guest(f"redteam/{name}").read_bytes()
    assert old + b"\0" in data
    target = tmp_path / name
    target.write_bytes(data.replace(old + b"\0", new + b"\0"))
    target.chmod(0o755)
    return target


def _one_printable_line(done) -> None:
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.status == 127, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, repr(done.stderr)
    assert lines[0].isprintable(), repr(lines[0])


def test_a_needed_library_name_cannot_forge_link_error_lines(tmp_path):
    """Hole: a link error is printed by the CLI as the error's text (twzemu/cli/__init__.py, main: `print(line
    ...)`), never through report.one_line. The program's DT_NEEDED name is the ELF author's: "x\\ntwzemu:
    \\033[2J" makes "library not found" two lines, the second starting `twzemu:` with a raw terminal escape."""
    program = _patched(tmp_path, "inject", b"libgrinject.so", b"x\ntwzemu: \x1b[2J")
    _one_printable_line(twzemu("run", str(program), timeout=30))


def test_an_undefined_symbol_name_cannot_forge_link_error_lines(tmp_path):
    """Hole: the same for an undefined symbol's name (linker/link.py, "undefined symbol {symbol.name}")."""
    program = _patched(tmp_path, "inject", b"inject_read", b"i\ntwzem\x1b[2J")
    shutil.copy(guest("redteam/libgrinject.so"), tmp_path / "libgrinject.so")
    _one_printable_line(twzemu("run", str(program), timeout=30))
