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
from reports import check, sym, violation

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


def test_an_on_demand_initialiser_at_the_crossing_stacks_end_fails_that_crossing_only():
    """Hole: libgr2e's constructor makes libgr2f and libgr2g call each other until 4,096 crossings are live, then
    calls libgr2h's gate; libgr2h is not initialised yet, and the monitor's call of its initialiser finds the
    crossing stack full (TOO_DEEP). monitor/crossing.py `_next_initialiser` raises MonitorError for any status
    but ENTERED: the whole run ends with 139 and `twzemu: cannot call 0x... in compartment deep::libgr2h.so:
    TOO_DEEP`, main never runs. Any compartment can do this to everyone (docs/security.md: nesting deeper than
    the crossing stack fails that crossing only, with TWZ_EFAULT and one line). Secure: the call of h_ping is
    answered TWZ_EFAULT with one line, libgr2h stays uninitialised, and the next attempt (one crossing less)
    initialises it."""
    done = twzemu("run", str(guest("redteam2/deep")), timeout=30)
    nested = r"twzemu: fault: crossings nested 4096 deep: .* refused \(TWZ_EFAULT\)"
    check(
        done,
        0,
        "".join(f"attempt {i}: {-14 if i < 4 else 7}\n" for i in range(8)) + "h_ping: 7\n",
        [nested] * 4,
    )


# == Attempts that held ===========================================================================================


def test_a_callees_view_of_its_caller_ends_with_the_crossing_and_a_pushed_call_starts_a_new_message():
    """libgr2c reads the program's word through its level-none gate (page tables for that pair) and not through
    its level-full gate, alternately (a CR3 switch each time: no stale translation carries the pair's view
    over). The program then calls with rsp in its stale gate buffer (holding libgr2c's reply): the call's push
    is the first write, so it starts a new message; libgr2c receives zeros, not its reply back. Tracing changes
    nothing."""
    stdout = (
        "none reads my word: 0x600d\nfull reads it after: -14\nnone reads it again: 0x600d\n"
        "full reads it again: -14\nreply: 0x5ec2e7\nc receives with my stack in the buffer: 0\n"
        "again: 0; my buffer after: 0\n"
    )
    read = violation("read", sym("word", 0), "pair", "pair::libgr2c.so", sym("c_full_read", 0))
    for options in ((), ("--trace",)):
        check(twzemu("run", *options, str(guest("redteam2/pair")), timeout=30), 0, stdout, [read, read])


def test_a_caller_bound_to_a_laxer_and_a_stricter_gate_is_granted_nothing():
    """grantlax is bound only to libgr2c's level-none c_secret_address and reads libgr2c's word; grantstrict is
    also bound to the level-full c_full_read (never called: the binding is what counts) and is killed reading
    it."""
    check(twzemu("run", str(guest("redteam2/grantlax")), timeout=30), 0, "libgr2c's word: 0x5ec2e7\n", [])
    check(
        twzemu("run", str(guest("redteam2/grantstrict")), timeout=30),
        139,
        "",
        [violation("read", sym("secret", 0), "grantstrict::libgr2c.so", "grantstrict", sym("main"))],
    )
