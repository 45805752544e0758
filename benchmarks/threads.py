"""Threads (issue 14), measured against raw Unicorn and against a plain monitor call in the same run:

* ``threads4_compute_vs_raw`` — four threads splitting ``compute_loop``'s work four ways (``guests/bench/threads4``)
  under the default quantum (``threads.DEFAULT_PERIOD`` of the host's time, from a timer thread), against raw
  Unicorn running ``compute_loop`` once over the whole of it; ``threads4_quantum_vs_raw`` the same with instructions
  counted (a translated block at a time, by the crossing engine's block hook) at ``threads.DEFAULT_QUANTUM``, the
  quantum twzemu counts by when no ``--quantum`` says (a seeded schedule, a debugger's run): the counter's cost. A
  shorter quantum adds ``thread_switch_us`` a switch (``--quantum 100000`` switches ten times as often). Higher is
  better.
* ``yield_round_us`` — one ``sched_yield`` that hands the CPU to the other of two threads (``guests/bench/yields``):
  a call of the monitor's system-call service and a switch; ``thread_switch_us`` is the switch alone (less
  ``monitor_service_us``, a no-op service call, measured in the same run).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from twzemu.monitor.threads import DEFAULT_QUANTUM, Schedule

from .raw import RawUnicorn
from .twz import TwzemuGuest

BUILD = Path(__file__).resolve().parent.parent / "guests" / "build" / "bench"
YIELDS = 20_000  # each thread's; must match guests/Makefile BENCH_DEFS


def measurements(iterations: int) -> dict[str, Callable[[], float]]:
    threads4, yields, sink = BUILD / "threads4", BUILD / "yields", io.BytesIO()
    return {
        "raw_threads4": lambda: RawUnicorn(threads4, "compute_loop").time_call(iterations),
        "threads4": lambda: TwzemuGuest(threads4, sink).time_run(),
        "threads4_quantum": lambda: TwzemuGuest(threads4, sink, Schedule(DEFAULT_QUANTUM)).time_run(),
        "yields": lambda: TwzemuGuest(yields, sink).time_run() / (2 * YIELDS),
    }


def figures(best: dict[str, float]) -> list[tuple[str, float, str]]:
    return [
        ("threads4_compute_vs_raw", best["raw_threads4"] / best["threads4"], "x"),
        ("threads4_quantum_vs_raw", best["raw_threads4"] / best["threads4_quantum"], "x"),
        ("yield_round_us", best["yields"] * 1e6, "us"),
        ("thread_switch_us", (best["yields"] - best["services"]) * 1e6, "us"),
    ]
