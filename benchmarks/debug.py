"""What a gdb session costs (issue 10), through the real stub over loopback, its client speaking gdb's packets.

* ``debug_continue`` — the compute guest (``guests/bench/compute``) under the stub with ``BREAKPOINTS``
  breakpoints set on functions it never runs, then ``c``: seconds from sending ``c`` to the exit reply.
  ``debug_continue_vs_run`` = the same guest's ``Machine.run`` without a debugger / that (budget ≥ 0.8).
* ``debug_stepi`` — one ``stepi`` as gdb makes it, from ``main``: ``s``, the stop reply, then ``g`` (gdb reads the
  registers at every stop); the median of ``STEPS`` steps in one session (budget ≤ 2 ms).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from twzemu.debug import rsp
from twzemu.debug.stub import GdbStub
from twzemu.monitor.monitor import Monitor
from twzemu.objects.store import ObjectStore

from .raw import RAM

BREAKPOINTS = 10
STEPS = 200
# Functions of the C library that the compute guest never calls: where its breakpoints go.
UNUSED = ("qsort", "strtol", "strtoul", "atoi", "abs", "labs", "strstr", "strrchr", "memchr", "getenv", "strdup")


class Client:
    """gdb's side of the connection: one packet out, its reply in."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = rsp.PacketReader()
        self.pending: list[bytes] = []

    def ask(self, payload: bytes) -> bytes:
        self.sock.sendall(rsp.frame(payload))
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise SystemExit("the gdb stub closed the connection")
            self.pending += [event.data for event in self.reader.feed(data) if isinstance(event, rsp.Packet)]
        return self.pending.pop(0)

    def close(self) -> None:
        self.sock.close()


def _session(program: Path, sink: BinaryIO) -> tuple[GdbStub, Client, threading.Thread]:
    """The program under a stub in a thread of its own (as ``twzemu run --gdb`` runs it), a client attached."""
    monitor = Monitor(ObjectStore.in_memory(), sink, sink, ram_size=RAM)
    stub = GdbStub("127.0.0.1", 0)
    _host, port = stub.listen()
    stub.attach_to(monitor)

    def run() -> None:
        stub.finish(monitor.run(str(program), []).status)

    thread = threading.Thread(target=run, name="twzemu-bench-guest")
    thread.start()
    client = Client(port)
    client.sock.sendall(b"+")
    if not client.ask(b"?").startswith((b"S05", b"T05")):
        raise SystemExit("the gdb stub did not report the first stop")
    return stub, client, thread


def _unused_functions(stub: GdbStub) -> list[int]:
    linked = stub.session.linked
    assert linked is not None
    found = []
    for library in linked.libraries:
        for symbol in library.loaded.image.symbols:
            if symbol.st_name in UNUSED and symbol.st_value:
                found.append(library.loaded.base + symbol.st_value)
    if len(found) < BREAKPOINTS:
        raise SystemExit(f"the benchmark needs {BREAKPOINTS} functions the guest never runs; found {len(found)}")
    return found[:BREAKPOINTS]


def _finish(client: Client, thread: threading.Thread, reply: bytes) -> None:
    if not reply.startswith(b"W"):
        raise SystemExit(f"the guest under gdb stopped with {reply!r} instead of exiting")
    client.close()
    thread.join()


def time_continue(program: Path, sink: BinaryIO) -> float:
    stub, client, thread = _session(program, sink)
    for address in _unused_functions(stub):
        if client.ask(b"Z0,%x,1" % address) != b"OK":
            raise SystemExit("the gdb stub refused a breakpoint")
    started = time.perf_counter()
    reply = client.ask(b"c")
    elapsed = time.perf_counter() - started
    _finish(client, thread, reply)
    return elapsed


def time_stepi(program: Path, sink: BinaryIO) -> float:
    stub, client, thread = _session(program, sink)
    program_image = stub.session.program()
    assert program_image is not None
    main = next(s for s in program_image.loaded.image.symbols if s.st_name == "main")
    client.ask(b"Z0,%x,1" % (program_image.loaded.base + main.st_value))
    client.ask(b"c")
    client.ask(b"z0,%x,1" % (program_image.loaded.base + main.st_value))
    samples = []
    for _ in range(STEPS):
        started = time.perf_counter()
        client.ask(b"s")
        client.ask(b"g")
        samples.append(time.perf_counter() - started)
    _finish(client, thread, client.ask(b"c"))
    return statistics.median(samples)


def measurements(program: Path, sink: BinaryIO) -> dict[str, Callable[[], float]]:
    return {
        "debug_continue": lambda: time_continue(program, sink),
        "debug_stepi": lambda: time_stepi(program, sink),
    }


def figures(best: dict[str, float]) -> list[tuple[str, float, str]]:
    return [
        ("debug_continue_vs_run", best["twz_compute"] / best["debug_continue"], "x"),
        ("debug_stepi_ms", best["debug_stepi"] * 1e3, "ms"),
    ]
