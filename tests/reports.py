"""The report lines of DESIGN.md "Guest ABI" as regular expressions, and the check every attack suite makes of a
run: its exit status, its whole stdout, and exactly the expected report lines on stderr, in order, with no
traceback (trace lines aside)."""

from __future__ import annotations

import re

HEX = r"0x[0-9a-f]+"
KILLED = 139
EFAULT = -14


def sym(name: str, offset: int | None = None) -> str:
    """`name+0xoff` as a regex (any offset unless given)."""
    return rf"{re.escape(name)}\+{HEX if offset is None else hex(offset)}"


def violation(kind: str, target: str, owner: str, executing: str, at: str) -> str:
    """The security violation line as a regex; target and at are regexes (``sym``)."""
    return (
        rf"twzemu: security violation: {kind} {target} \({HEX}\) in {re.escape(owner)} "
        rf"from {re.escape(executing)} at {at}"
    )


def check_lines(stderr: str, patterns: list[str]) -> None:
    """Exactly these report lines on stderr, in order (trace lines aside)."""
    lines = [line for line in stderr.splitlines() if not line.startswith("twzemu: trace: ")]
    assert len(lines) == len(patterns), stderr
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}"


def check(done, status: int, stdout: str, reports: list[str]) -> None:
    """Exit status, the whole stdout, and exactly these report lines; no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.status == status, done.stderr
    assert done.stdout == stdout
    check_lines(done.stderr, reports)
