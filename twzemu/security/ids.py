"""Compartment ids: who is executing, and who owns what.

Ids are small integers handed out by the monitor (DESIGN.md "Guest ABI", ``twz_caller_compartment``): 0 is the
monitor, 1 the program, then every isolated library in load order. They are never reused within a run.
"""

from __future__ import annotations

from typing import NewType

CompartmentId = NewType("CompartmentId", int)

MONITOR = CompartmentId(0)
PROGRAM = CompartmentId(1)
