"""Snapshots (issue 15): property-test cases run from one boot, measured on a session of ``libcounter.so``
(``guests/build/isolation``), booted and snapshotted once, outside the timing:

* ``snapshot_restore_us`` — one ``Session.restore`` after a case (one gate call, ``counter_add(5)``), alone;
* ``cases_per_s`` — cases per second, each the gate call and the restore after it, as ``twzemu.testing`` runs
  them (budget ≥ 500 on one core);
* ``boot_per_case_ms`` — what a case cost before snapshots: a new session booted for it, and the same call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from twzemu import Session

LIBRARIES = Path(__file__).resolve().parent.parent / "guests" / "build" / "isolation"
CASES = 400
BOOTS = 5


def _restores() -> tuple[float, float]:
    """Seconds per restore and per case (a call and a restore), over ``CASES`` cases."""
    with Session(library_dirs=[str(LIBRARIES)]) as session:
        counter = session.load("libcounter.so")
        counter.call("counter_add", 1)  # the libraries' first call pays for its pages: before the snapshot
        snapshot = session.snapshot()
        first = counter.call("counter_add", 5)
        session.restore(snapshot)
        restoring = 0.0
        started = time.perf_counter()
        for _ in range(CASES):
            if counter.call("counter_add", 5) != first:
                raise SystemExit("snapshot benchmark: a case did not start from the snapshot")
            before = time.perf_counter()
            session.restore(snapshot)
            restoring += time.perf_counter() - before
        return restoring / CASES, (time.perf_counter() - started) / CASES


def _boot_per_case() -> float:
    started = time.perf_counter()
    for _ in range(BOOTS):
        with Session(library_dirs=[str(LIBRARIES)]) as session:
            session.load("libcounter.so").call("counter_add", 5)
    return (time.perf_counter() - started) / BOOTS


def measurements() -> dict[str, Callable[[], float]]:
    latest: dict[str, float] = {}

    def restore() -> float:
        latest["restore"], latest["case"] = _restores()
        return latest["restore"]

    return {"snapshot_restore": restore, "snapshot_case": lambda: latest["case"], "boot_case": _boot_per_case}


def figures(best: dict[str, float]) -> list[tuple[str, float, str]]:
    return [
        ("snapshot_restore_us", best["snapshot_restore"] * 1e6, "us"),
        ("cases_per_s", 1 / best["snapshot_case"], "cases/s"),
        ("boot_per_case_ms", best["boot_case"] * 1e3, "ms"),
    ]
