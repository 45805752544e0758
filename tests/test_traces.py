"""Traces people look at (issue 11): ``twzemu run --trace-json FILE`` writes Chrome trace-event JSON, ``--graph
FILE.dot`` a Graphviz call graph, through the real CLI, for real guests with gates."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pydot
import pytest
from conftest import CLI, ROOT, guest, twzemu


def timeline(path: Path) -> list[dict]:
    document = json.loads(path.read_text())
    assert list(document) == ["traceEvents"]
    return document["traceEvents"]


def processes(events: list[dict]) -> dict[int, str]:
    return {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}


def crossings(events: list[dict], gate: str) -> list[dict]:
    return [e for e in events if e["ph"] == "X" and e["name"] == gate]


def inside(inner: dict, outer: dict) -> bool:
    return outer["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"]


def test_nested_and_reentrant_crossings_are_events_on_the_callees_process(tmp_path):
    path = tmp_path / "trace.json"
    done = twzemu("run", "--trace-json", str(path), str(guest("isolation/nest")), "2")
    assert done.status == 0, done.stderr
    events = timeline(path)
    names = processes(events)
    assert set(names.values()) == {"nest", "nest::libouter.so", "nest::libinner.so", "monitor"}
    threads = [e for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
    assert {e["args"]["name"] for e in threads} == {"T1"} and {e["pid"] for e in threads} == set(names)
    outer = crossings(events, "outer_call")[0]
    inner = crossings(events, "inner_twice")[0]
    assert names[outer["pid"]] == "nest::libouter.so" and names[inner["pid"]] == "nest::libinner.so"
    assert outer["args"] == {"caller": "nest", "arguments": ["0x5"], "result": 11}
    assert inner["args"] == {"caller": "nest::libouter.so", "arguments": ["0x5"], "result": 10}
    assert inside(inner, outer)
    callback = crossings(events, "outer_callback")[0]
    square = crossings(events, "main_square")[0]  # re-entrant: the program's own gate, called back
    assert names[square["pid"]] == "nest" and square["args"]["result"] == 49 and inside(square, callback)
    assert len(crossings(events, "outer_call")) == 1 + 1 + 2  # nested, through a pointer, the 2 rounds


def test_a_violation_is_an_instant_and_the_unwound_crossing_says_so(tmp_path):
    path = tmp_path / "trace.json"
    done = twzemu("run", "--trace-json", str(path), str(guest("holes/grants")))
    assert done.status == 139  # the program itself reads the secret library's data at the end
    events = timeline(path)
    names = processes(events)
    unwound = crossings(events, "gpeer_read")[0]
    assert unwound["args"]["result"] == -14
    assert unwound["args"]["violation"].startswith("twzemu: security violation: read secret+0x0 ")
    instants = [e for e in events if e["ph"] == "i"]
    lines = [e["args"]["report"] for e in instants]
    assert lines == [line for line in done.stderr.splitlines()], "one instant per report line, in order"
    assert names[instants[2]["pid"]] == "grants::libgpeer.so" and instants[2]["name"] == "security violation"


def test_the_file_is_complete_after_a_timeout(tmp_path):
    path = tmp_path / "trace.json"
    done = twzemu("run", "--timeout", "1", "--trace-json", str(path), "--graph", str(tmp_path / "g.dot"),
                  str(guest("spin")))  # fmt: skip
    assert done.status == 124
    events = timeline(path)
    assert [e["name"] for e in events if e["ph"] == "i"] == ["timeout"]
    assert (tmp_path / "g.dot").read_text().startswith("digraph crossings {")


def test_the_call_graph_counts_each_gate_per_caller_and_callee(tmp_path):
    path = tmp_path / "graph.dot"
    done = twzemu("run", "--graph", str(path), str(guest("isolation/nest")), "3")
    assert done.status == 0, done.stderr
    (graph,) = pydot.graph_from_dot_data(path.read_text())
    nodes = {node.get_name().strip('"') for node in graph.get_nodes()} - {"node"}
    assert nodes == {"nest", "nest::libouter.so", "nest::libinner.so", "monitor"}
    labels = {
        (edge.get_source().strip('"'), edge.get_destination().strip('"')): edge.get_label().strip('"').split("\\n")
        for edge in graph.get_edges()
    }
    assert "outer_call x5" in labels["nest", "nest::libouter.so"]  # nested, through a pointer, the 3 rounds
    assert labels["nest::libouter.so", "nest::libinner.so"] == ["inner_twice x5", "inner_caller x1"]
    assert labels["nest::libouter.so", "nest"] == ["main_square x1"]
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: the graph parsed, rendering it is not checked here")
    svg = subprocess.run(["dot", "-Tsvg", str(path)], capture_output=True, text=True, check=True).stdout
    assert "<svg" in svg


def test_an_unwritable_trace_file_is_a_usage_error(tmp_path):
    done = twzemu("run", "--trace-json", str(tmp_path / "no" / "such" / "trace.json"), str(guest("hello")))
    assert done.status == 2 and done.stdout == ""
    assert done.stderr.startswith("twzemu: twzemu run: cannot write ") or "cannot write" in done.stderr


def test_the_file_is_complete_after_ctrl_c(tmp_path):
    path = tmp_path / "trace.json"
    command = [*CLI, "run", "--verbose", "--trace-json", str(path), str(guest("spin"))]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        while not process.stderr.readline().startswith("twzemu: cpu: "):  # the last line before the guest runs
            pass
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 130, stderr
    assert [e["name"] for e in timeline(path) if e["ph"] == "i"] == ["interrupted"]
