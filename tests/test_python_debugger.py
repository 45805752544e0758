"""The Python API's debugger (issue 13): a Session's calls stopped at breakpoints, stepped (through a crossing),
looked at, and ended, on the session's one machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, guest

from twzemu import Debugger, Finished, GateSecurityError, Paused, Session
from twzemu.errors import TwzEmuError

ISOLATION = str(guest("isolation"))
SERVICE = "twzcall::libcounter.so"


def test_a_breakpoint_stops_the_call_in_the_callee_with_its_arguments() -> None:
    with Session(library_dirs=[ISOLATION]) as s, Debugger(s) as d:
        address = d.break_at("libcounter.so", "counter_add")
        stop = d.call("libcounter.so", "counter_add", 5)
        assert isinstance(stop, Paused)
        assert (stop.rip, stop.where, stop.compartment, stop.reason) == (address, "counter_add+0x0", SERVICE,
                                                                         "breakpoint")  # fmt: skip
        assert d.register("rdi") == 5
        assert d.frames() == ["counter_add+0x0", "twz_call_now+0xd"]  # through the crossing, into the caller
        (thread,) = d.threads()  # the call's one thread, in the callee
        assert (thread.id, thread.compartment, thread.running) == (1, SERVICE, True)
        step = d.step()
        assert isinstance(step, Paused) and step.reason == "step" and step.rip > address
        assert d.cont() == Finished(105)
        assert s.load("libcounter.so").call("counter_add", 1) == 106  # the same machine, state kept


def test_a_register_set_at_a_breakpoint_changes_the_call() -> None:
    with Session(library_dirs=[ISOLATION]) as s, Debugger(s) as d:
        d.break_at("libcounter.so", "counter_add")
        d.call("libcounter.so", "counter_add", 5)
        d.set_register("rdi", 50)
        assert d.cont() == Finished(150)


def test_stepping_across_a_crossing_shows_the_return_and_stops_in_the_caller() -> None:
    with Session(library_dirs=[ISOLATION]) as s, Debugger(s) as d:
        d.break_at_crossings()
        stop = d.call("libcounter.so", "counter_add", 5)
        assert isinstance(stop, Paused) and stop.compartment == SERVICE
        assert stop.messages == ("enter T1 twzcall -> twzcall::libcounter.so counter_add(0x5)",)
        back = d.cont()
        assert isinstance(back, Paused) and back.compartment == "twzcall"
        assert back.messages == (f"return T1 {SERVICE} -> twzcall counter_add = 105",)
        assert d.cont() == Finished(105)


def test_memory_is_read_as_the_stopped_compartment_sees_it() -> None:
    with Session(library_dirs=[ISOLATION]) as s, Debugger(s) as d:
        total = s.address_of("libcounter.so", "total")
        d.break_at("libcounter.so", "counter_add")
        d.call("libcounter.so", "counter_add", 5)
        assert int.from_bytes(d.read(total, 8), "little") == 100  # the service's own data
        with pytest.raises(TwzEmuError):
            d.read(total, 8, "twzcall")  # the caller's page tables do not map it
        d.cont()


def test_a_fault_stops_the_call_with_its_report_then_the_call_fails_and_the_session_goes_on() -> None:
    with Session(library_dirs=[ISOLATION]) as s, Debugger(s) as d:
        stop = d.call("libcounter.so", "counter_peek", 16)
        assert isinstance(stop, Paused) and stop.reason == "fault" and stop.where.startswith("counter_peek+")
        assert stop.messages and "read 0x10" in stop.messages[0]
        with pytest.raises(GateSecurityError, match=r"Failed to call counter_peek in libcounter\.so"):
            d.cont()
        assert d.call("libcounter.so", "counter_add", 1) == Finished(101)


def test_closing_the_debugger_ends_a_paused_call_and_leaves_the_session_working() -> None:
    with Session(library_dirs=[ISOLATION]) as s:
        with Debugger(s) as d:
            d.break_at("libcounter.so", "counter_add")
            d.call("libcounter.so", "counter_add", 5)
            with pytest.raises(TwzEmuError, match="a call is under way"):
                d.call("libcounter.so", "counter_add", 1)
        assert s.load("libcounter.so").call("counter_add", 2) == 102  # the paused call never added its 5


def test_stepping_without_a_call_is_an_error() -> None:
    with Session(library_dirs=[ISOLATION]) as s, Debugger(s) as d:
        with pytest.raises(TwzEmuError, match="no call is under way"):
            d.step()
        with pytest.raises(TwzEmuError, match="no call is paused"):
            d.register("rip")


def test_the_readme_debugger_example_runs_as_shown() -> None:
    """README "Python API": the debugger's example, run exactly as shown."""
    section = (ROOT / "README.md").read_text().split("A `Debugger` stops a session's calls", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Paused(rip=") and "where='counter_add+0x0'" in lines[0]
    assert lines[1:] == ["5 ['counter_add+0x0', 'twz_call_now+0xd']", "counter_add+0x1", "Finished(result=105)"]
