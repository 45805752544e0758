"""The gdb remote stub: a thin protocol layer over a ``DebugSession``.

Data flow: ``GdbStub.listen`` binds before the program loads and the CLI prints the real port; the session asks
``stopped`` whenever the guest stops for the debugger (first before any guest instruction), which accepts gdb on
the first call, sends the stop reply and serves packets — each through ``HANDLERS``, keyed by ``rsp.Command`` —
until one resumes the guest (``c``, ``s``, ``D``, ``k``). ``finish`` sends the exit status when the run ends.

Registers follow the target description of ``registers`` (gdb's amd64 layout with x87, SSE, fs_base and gs_base).
gdb unwinds across crossings with the rules of ``unwind``, listed to it as the first library.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from xml.sax.saxutils import quoteattr

from ..errors import TwzEmuError, UsageError
from ..machine.events import Stop, Watch
from ..machine.x86 import Vector
from ..mmu.pte import Prot
from ..mmu.space import SlotMapping
from ..monitor.crossing import RETURN_POINT
from ..monitor.monitor import Monitor
from ..monitor.observe import enter_words
from ..monitor.report import STATUS_KILLED
from . import rsp, unwind
from .registers import REGISTERS, target_xml
from .session import DebugSession, Library, Resume

GATE_FRAMES = "twzemu-gate-frames.so"  # the file of the gates' unwind rules, listed to gdb as a library
EFAULT = 14  # the errno gdb shows for an m/M error reply of an unmapped address
# The signal gdb is told for a fault, as a Linux process would get it (a violation is a memory fault: SIGSEGV).
FAULT_SIGNALS = {
    Vector.INVALID_OPCODE: rsp.Signal.SIGILL,
    Vector.DIVIDE_ERROR: rsp.Signal.SIGFPE,
    Vector.X87_FPU: rsp.Signal.SIGFPE,
    Vector.SIMD_FP: rsp.Signal.SIGFPE,
}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SUPPORTED = (
    b"PacketSize=4000;QStartNoAckMode+;qXfer:exec-file:read+;qXfer:libraries-svr4:read+;qXfer:features:read+;qXfer:threads:read+;"
    b"swbreak+;hwbreak+"
)


def parse_address(text: str, allow_remote: bool) -> tuple[str, int]:
    """``--gdb [HOST:]PORT``: host defaults to 127.0.0.1; a non-local host needs ``--gdb-allow-remote``."""
    host, colon, port = text.rpartition(":")
    host = host.strip("[]") if colon else "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"twzemu run: --gdb {text}: PORT must be a number") from None
    if not 0 <= number < 65536:
        raise UsageError(f"twzemu run: --gdb {text}: PORT must be 0 to 65535")
    if host not in LOCAL_HOSTS and not allow_remote:
        raise UsageError(f"twzemu run: --gdb {text}: {host} is not local; add --gdb-allow-remote to listen there")
    return host or "127.0.0.1", number


class GdbStub:
    """Serves one gdb connection for one run."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.session = DebugSession(self)
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._reader = rsp.PacketReader()
        self._ack = True
        self._resume: Resume | None = None
        self._running = False  # gdb waits for a stop reply
        self._interrupted = False  # the last stop was gdb's Ctrl-C
        self._backlog: list[rsp.Packet] = []  # packets that arrived while the guest ran
        self._frames_dir: str | None = None  # where the gates' unwind rules are written for gdb
        self._interrupt: Callable[[], None] | None = None  # what Ctrl-C calls while the guest runs
        self._watcher: tuple[socket.socket, threading.Thread] | None = None  # reads gdb while the guest runs
        self._greeter: threading.Thread | None = None  # accepts gdb (listen)

    def listen(self) -> tuple[str, int]:
        """Bind and listen; the address actually bound (port 0 picks a free one)."""
        listener = socket.create_server((self.host, self.port))
        self._listener = listener
        host, port = listener.getsockname()[:2]
        # gdb may connect while the program is still being linked and loaded: a thread accepts it and
        # acknowledges what it sends until the first stop serves it (unacknowledged, gdb would send it again).
        self._greeter = threading.Thread(target=self._greet, name="twzemu-gdb-accept", daemon=True)
        self._greeter.start()
        return host, port

    def _greet(self) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            conn, _ = listener.accept()
        except OSError:  # closed before gdb came
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._watch()

    def attach_to(self, monitor: Monitor) -> None:
        """Take control of ``monitor``'s next run before any guest instruction runs on its machine."""
        self.session.attach_to(monitor)
        self.session.report_libraries = True  # gdb reloads its library list at each dlopen and dlclose

    def close(self) -> None:
        for sock in (self._conn, self._listener):
            if sock is not None:
                sock.close()
        self._conn = self._listener = None
        if self._frames_dir is not None:
            shutil.rmtree(self._frames_dir, ignore_errors=True)
            self._frames_dir = None

    def gate_frames(self) -> str:
        """The file of the gates' unwind rules (``unwind``), written once per run for gdb to load."""
        if self._frames_dir is None:
            self._frames_dir = tempfile.mkdtemp(prefix="twzemu-gdb-")
        path = os.path.join(self._frames_dir, GATE_FRAMES)
        if not os.path.exists(path):
            frames = unwind.debug_frame(list(unwind.gate_fdes(self.session.gate_code())))
            with open(path, "wb") as stream:
                stream.write(unwind.elf_file(frames, "twz_gate_return", RETURN_POINT))
        return path

    # -- the session's controller ------------------------------------------------------------------------

    def stopped(self, stop: Stop | None, messages: Sequence[str] = ()) -> Resume:
        # A stop inside a free run (a violation, before the monitor unwinds it) pauses the Ctrl-C watcher: the
        # packets are the stub's to read until the guest runs on. The first stop waits for gdb.
        if self._greeter is not None:
            self._accept()
            was_watching = False
        else:
            was_watching = self._unwatch()
        resume = self._serve(stop, messages)
        if was_watching and resume is Resume.CONTINUE:
            self._watch()
        return resume

    def _serve(self, stop: Stop | None, messages: Sequence[str]) -> Resume:
        if self._running:  # (at the first stop gdb asks why the target stopped itself: '?')
            for message in messages:  # on gdb's console, before the stop itself
                self._send(rsp.console_output(message + "\n"))
            library = self.session.take_library_event()
            signal = self._signal_of(stop)
            self._send(rsp.stop_reply(signal, _watch_hit(stop), self.session.running_thread(), library))
        self._interrupted = False
        self._resume = None
        while self._resume is None:
            packet = self._next_packet()
            if packet is None:  # gdb went away: the program runs on as if detached
                return Resume.DETACH
            self._send_reply(self._dispatch(packet))
        self._running = True
        return self._resume

    def _signal_of(self, stop: Stop | None) -> rsp.Signal:
        if stop is not None and stop.fault is not None:
            return FAULT_SIGNALS.get(stop.fault.vector, rsp.Signal.SIGSEGV)
        return rsp.Signal.SIGINT if self._interrupted else rsp.Signal.SIGTRAP

    def finish(self, status: int) -> None:
        """The run ended with ``status``: tell gdb (when it is still there), then close."""
        if self._conn is not None:
            # A program the monitor killed (139) ends in gdb as killed by SIGSEGV; any other end is its exit code.
            reply = rsp.kill_reply(rsp.Signal.SIGSEGV) if status == STATUS_KILLED else rsp.exit_reply(status)
            with contextlib.suppress(OSError):
                self._send(reply)
        self.close()

    # -- the connection ------------------------------------------------------------------------------------

    def _accept(self) -> None:
        """Wait for gdb (``_greet`` accepts it), then read its packets here."""
        assert self._greeter is not None
        self._greeter.join()
        self._greeter = None
        self._unwatch()
        if self._conn is None:
            raise TwzEmuError("the gdb stub stopped listening before gdb connected")

    @contextlib.contextmanager
    def running(self, interrupt: Callable[[], None]) -> Iterator[None]:
        """Watch the connection from a thread while the guest runs: 0x03 (Ctrl-C in gdb) interrupts it."""
        self._interrupt = interrupt
        self._watch()
        try:
            yield
        finally:
            self._unwatch()
            self._interrupt = None

    def _watch(self) -> None:
        conn = self._conn
        if conn is None or self._watcher is not None:
            return
        wake, woken = socket.socketpair()  # _unwatch writes to wake: the watcher returns at once, not at a timeout
        interrupt = self._interrupt

        def watch() -> None:
            with woken:
                while True:
                    ready = select.select([conn, woken], [], [])[0]
                    if woken in ready:
                        return
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        return
                    if not data:
                        return
                    for event in self._reader.feed(data):
                        if isinstance(event, rsp.Interrupt) and interrupt is not None:
                            self._interrupted = True
                            interrupt()
                        elif isinstance(event, rsp.Packet):
                            if self._ack:
                                conn.sendall(b"+")
                            self._backlog.append(event)

        thread = threading.Thread(target=watch, name="twzemu-gdb-interrupt", daemon=True)
        self._watcher = (wake, thread)
        thread.start()

    def _unwatch(self) -> bool:
        """Stop watching (the stub reads gdb's packets itself again); whether a watcher was running."""
        if self._watcher is None:
            return False
        wake, thread = self._watcher
        self._watcher = None
        with wake:
            wake.send(b"\0")
        thread.join()
        return True

    def _next_packet(self) -> rsp.Packet | None:
        assert self._conn is not None
        if self._backlog:
            return self._backlog.pop(0)
        while True:
            try:
                data = self._conn.recv(4096)
            except OSError:  # gdb died: as if it had gone away cleanly
                data = b""
            if not data:
                self._conn.close()
                self._conn = None
                return None
            for event in self._reader.feed(data):
                if isinstance(event, rsp.BadPacket):
                    self._raw(b"-")
                elif isinstance(event, rsp.Packet):
                    if self._ack:
                        self._raw(b"+")
                    return event

    def _raw(self, data: bytes) -> None:
        if self._conn is not None:
            self._conn.sendall(data)

    def _send(self, payload: bytes) -> None:
        self._raw(rsp.frame(payload))

    def _send_reply(self, reply: bytes | None) -> None:
        if reply is not None:
            self._send(reply)

    def _dispatch(self, packet: rsp.Packet) -> bytes | None:
        try:
            handler = HANDLERS.get(packet.command)
        except rsp.ProtocolError:
            return rsp.UNSUPPORTED
        if handler is None:
            return rsp.UNSUPPORTED
        try:
            return handler(self, packet.args)
        except rsp.ProtocolError:
            return rsp.error_reply(1)

    # -- handlers ------------------------------------------------------------------------------------------

    def halt_reason(self, _args: bytes) -> bytes:
        return rsp.stop_reply(rsp.Signal.SIGTRAP, None, self.session.running_thread())

    def read_registers(self, _args: bytes) -> bytes:
        """The selected thread's registers (another thread's x87 and vector registers are unavailable: ``xx``)."""
        values = ((self.session.thread_register(slot.name), slot.size) for slot in REGISTERS)
        return b"".join(b"xx" * size if value is None else rsp.encode_le(value, size) for value, size in values)

    def write_registers(self, args: bytes) -> bytes:
        offset = 0
        for slot in REGISTERS:
            text = args[offset : offset + 2 * slot.size]
            if len(text) < 2 * slot.size:
                break
            if not text.startswith(b"xx"):
                self.session.set_register(slot.name, rsp.decode_le(text))
            offset += 2 * slot.size
        return rsp.OK

    def read_register(self, args: bytes) -> bytes:
        index = rsp.parse_int(args)
        if index >= len(REGISTERS):
            return rsp.error_reply(1)
        slot = REGISTERS[index]
        value = self.session.thread_register(slot.name)
        return b"xx" * slot.size if value is None else rsp.encode_le(value, slot.size)

    def write_register(self, args: bytes) -> bytes:
        number, _, value = args.partition(b"=")
        index = rsp.parse_int(number)
        if index >= len(REGISTERS):
            return rsp.error_reply(1)
        self.session.set_register(REGISTERS[index].name, rsp.decode_le(value))
        return rsp.OK

    def read_memory(self, args: bytes) -> bytes:
        wanted = rsp.parse_memory(args, with_data=False)
        try:
            return rsp.to_hex(self.session.read_memory(wanted.address, wanted.length))
        except TwzEmuError:
            return rsp.error_reply(EFAULT)

    def write_memory(self, args: bytes) -> bytes:
        wanted = rsp.parse_memory(args, with_data=True)
        try:
            self.session.write_memory(wanted.address, wanted.data)
        except TwzEmuError:
            return rsp.error_reply(EFAULT)
        return rsp.OK

    def write_binary(self, args: bytes) -> bytes:
        head, _, data = args.partition(b":")
        address, _, length = head.partition(b",")
        if rsp.parse_int(length) == 0:
            return rsp.OK  # gdb's probe for X support
        try:
            self.session.write_memory(rsp.parse_int(address), data)
        except TwzEmuError:
            return rsp.error_reply(EFAULT)
        return rsp.OK

    def cont(self, _args: bytes) -> None:
        self._resume = Resume.CONTINUE

    def step(self, _args: bytes) -> None:
        self._resume = Resume.STEP

    def detach(self, _args: bytes) -> bytes | None:
        self._resume = Resume.DETACH
        self._send(rsp.OK)
        self.close()
        return None

    def kill(self, _args: bytes) -> None:
        self._resume = Resume.KILL
        self.close()

    def insert_point(self, args: bytes) -> bytes:
        point = rsp.parse_point(args)
        if point.kind in (rsp.PointKind.SOFTWARE, rsp.PointKind.HARDWARE):
            self.session.breakpoints.add(point.address)
            return rsp.OK
        try:
            self.session.add_watchpoint(_watch_of(point))
        except TwzEmuError:
            return rsp.error_reply(EFAULT)
        return rsp.OK

    def remove_point(self, args: bytes) -> bytes:
        point = rsp.parse_point(args)
        if point.kind in (rsp.PointKind.SOFTWARE, rsp.PointKind.HARDWARE):
            self.session.breakpoints.discard(point.address)
        else:
            self.session.watchpoints.pop(_watch_of(point), None)
        return rsp.OK

    def ok(self, _args: bytes) -> bytes:
        return rsp.OK

    def set(self, args: bytes) -> bytes | None:
        if args == b"StartNoAckMode":
            self._send(rsp.OK)  # acknowledged once more, then no acks either way
            self._ack = False
            return None
        return rsp.UNSUPPORTED

    def query(self, args: bytes) -> bytes:
        name = args.split(b":", 1)[0].split(b",", 1)[0]
        handler = QUERIES.get(name)
        return handler(self, args) if handler is not None else rsp.UNSUPPORTED

    def verbose(self, args: bytes) -> bytes:
        return rsp.UNSUPPORTED  # vCont? and vMustReplyEmpty: gdb falls back to c and s

    # -- queries -------------------------------------------------------------------------------------------

    def supported(self, _args: bytes) -> bytes:
        return SUPPORTED

    def offsets(self, _args: bytes) -> bytes:
        program = self.session.program()
        base = program.loaded.base if program is not None else 0
        # Text and data of an image share one load bias (the linker script puts data a slot above text).
        return b"Text=%x;Data=%x;Bss=%x" % (base, base, base)

    def attached(self, _args: bytes) -> bytes:
        return b"1"

    def current_thread(self, _args: bytes) -> bytes:
        return b"QC%x" % self.session.running_thread()

    def first_thread(self, _args: bytes) -> bytes:
        return b"m" + b",".join(b"%x" % view.id for view in self.session.threads())

    def set_thread(self, args: bytes) -> bytes:
        """``Hg<id>`` picks the thread whose registers gdb reads; ``Hc<id>`` is accepted (every thread runs on)."""
        kind, number = args[:1], args[1:]
        try:
            thread = -1 if number == b"-1" else int(number, 16)
        except ValueError:
            return rsp.error_reply(1)
        if kind == b"g" and not self.session.select_thread(thread):
            return rsp.error_reply(1)
        return rsp.OK

    def thread_alive(self, args: bytes) -> bytes:
        try:
            thread = int(args, 16)
        except ValueError:
            return rsp.error_reply(1)
        return rsp.OK if any(view.id == thread for view in self.session.threads()) else rsp.error_reply(1)

    def next_thread(self, _args: bytes) -> bytes:
        return b"l"

    def command(self, args: bytes) -> bytes:
        """``monitor WORDS`` in gdb: ``qRcmd,HEX``; the answer goes to gdb's console as ``O`` packets."""
        words = rsp.from_hex(args.partition(b",")[2]).decode("utf-8", "replace").split()
        name, arguments = (words[0], words[1:]) if words else ("help", [])
        handler = MONITOR_COMMANDS.get(name)
        if handler is None:
            text = f"unknown monitor command {' '.join(words)!r}; monitor help lists them\n"
        else:
            text = handler(self, arguments)
        self._send(rsp.console_output(text))
        return rsp.OK

    def monitor_help(self, _arguments: list[str]) -> str:
        return "".join(f"monitor {name}: {doc}\n" for name, doc in MONITOR_HELP.items())

    def monitor_compartment(self, _arguments: list[str]) -> str:
        state = self.session.compartment()
        if state is None:
            return "compartment monitor (id 0)\n"
        lines = [f"compartment {state.name} (id {state.id}) cr3 {state.space.cr3:#x}"]
        lines += [self._mapping_line(mapping) for mapping in self.session.maps(state.space)]
        return "\n".join(lines) + "\n"

    def monitor_compartments(self, _arguments: list[str]) -> str:
        current = self.session.compartment()
        return "".join(
            f"{'*' if state is current else ' '} {state.id} {state.name} cr3 {state.space.cr3:#x}\n"
            for state in self.session.states()
        )

    def monitor_maps(self, _arguments: list[str]) -> str:
        space = self.session.machine.current_space() if self.session.machine else None
        if space is None:
            return "no address space is loaded\n"
        return "".join(self._mapping_line(mapping) + "\n" for mapping in self.session.maps(space))

    def monitor_gates(self, _arguments: list[str]) -> str:
        session = self.session
        if session.linked is None:
            return "no program is linked\n"
        names = {state.id: state.name for state in session.states()}
        callers: dict[str, list[str]] = {}
        for binding in session.linked.bindings:
            callers.setdefault(binding.gate, []).append(names.get(binding.caller, f"compartment {binding.caller}"))
        lines = []
        for gate in session.gates():
            owner = names.get(gate.owner, f"compartment {gate.owner}")
            bound = ", ".join(sorted(callers.get(gate.name, []))) or "none"
            lines.append(
                f"{gate.name} at {gate.entry:#x} in {owner} ({gate.library}), {gate.arity} arguments, "
                f"level {gate.level.name.lower()}; bound from: {bound}\n"
            )
        return "".join(lines) or "no gates\n"

    def monitor_crossings(self, _arguments: list[str]) -> str:
        entries = self.session.entries
        if not entries:
            return "no crossing is live\n"
        return "".join(enter_words(event) + "\n" for event in reversed(entries))

    def monitor_backtrace(self, _arguments: list[str]) -> str:
        session = self.session
        names = {state.id: state.name for state in session.states()}
        current = session.compartment()
        where = current.name if current is not None else "the monitor"
        entries = list(reversed(session.entries))
        lines = []
        for number, frame in enumerate(session.backtrace()):
            if frame.crossing is not None:
                caller = names.get(frame.crossing.caller, f"compartment {frame.crossing.caller}")
                words = enter_words(entries.pop(0)) if entries else f"from {caller}"
                lines.append(f"    crossing: {words}")
                where = caller
            lines.append(f"#{number:<3}{frame.pc:#x} {session.symbolize(frame.pc)} in {where}")
        return "\n".join(lines) + "\n"

    def monitor_break_crossings(self, arguments: list[str]) -> str:
        if arguments not in (["on"], ["off"]):
            return f"break-crossings is {'on' if self.session.break_crossings else 'off'}; say on or off\n"
        self.session.break_crossings = arguments == ["on"]
        effect = "every gate entry and return stops" if arguments == ["on"] else "only breakpoints stop"
        return f"break-crossings {arguments[0]}: {effect}\n"

    def _mapping_line(self, mapping: SlotMapping) -> str:
        rights = "".join(
            c if mapping.prot & p else "-" for c, p in (("r", Prot.READ), ("w", Prot.WRITE), ("x", Prot.EXEC))
        )
        return f"  slot {mapping.slot:#x} {mapping.base:#x} {rights} {self.session.mapping_name(mapping)}"

    def xfer(self, args: bytes) -> bytes:
        obj, op, _annex, offset, length = rsp.parse_xfer(args)
        if op != "read" or obj not in DOCUMENTS:
            return rsp.UNSUPPORTED
        return rsp.xfer_slice(DOCUMENTS[obj](self), offset, length)

    # -- documents -----------------------------------------------------------------------------------------

    def exec_file(self) -> bytes:
        program = self.session.program()
        return os.path.abspath(program.loaded.image.path).encode() if program is not None else b""

    def threads(self) -> bytes:
        """gdb's thread list: each guest thread named ``T<n> (COMPARTMENT)`` after the compartment it is in now."""
        entries = "".join(
            f'<thread id="{view.id:x}" name={quoteattr(f"T{view.id} ({view.compartment})")}/>'
            for view in self.session.threads()
        )
        return f'<?xml version="1.0"?><threads>{entries}</threads>'.encode()

    def libraries_svr4(self) -> bytes:
        # gdb's "Library List Format for SVR4 Targets": every image but the program, with its load bias and
        # its dynamic section's run-time address (gdb checks l_ld against the file's .dynamic).
        # The gates' unwind rules come first: gdb takes a frame's rules from the first file that has some.
        libraries = [Library(self.gate_frames(), 0, 0, ""), *self.session.libraries()]
        entries = "".join(
            f'<library name={quoteattr(lib.path)} lm="{0x1000 + n:#x}" lmid="0x0" l_addr="{lib.base:#x}" '
            f'l_ld="{lib.dynamic:#x}"/>'
            for n, lib in enumerate(libraries)
        )
        return f'<library-list-svr4 version="1.0">{entries}</library-list-svr4>'.encode()


HANDLERS: dict[rsp.Command, Callable[[GdbStub, bytes], bytes | None]] = {
    rsp.Command.HALT_REASON: GdbStub.halt_reason,
    rsp.Command.READ_REGISTERS: GdbStub.read_registers,
    rsp.Command.WRITE_REGISTERS: GdbStub.write_registers,
    rsp.Command.READ_REGISTER: GdbStub.read_register,
    rsp.Command.WRITE_REGISTER: GdbStub.write_register,
    rsp.Command.READ_MEMORY: GdbStub.read_memory,
    rsp.Command.WRITE_MEMORY: GdbStub.write_memory,
    rsp.Command.WRITE_BINARY: GdbStub.write_binary,
    rsp.Command.CONTINUE: GdbStub.cont,
    rsp.Command.CONTINUE_SIGNAL: GdbStub.cont,  # the signal is the fault's: the monitor handles it as it would
    rsp.Command.STEP: GdbStub.step,
    rsp.Command.STEP_SIGNAL: GdbStub.step,
    rsp.Command.DETACH: GdbStub.detach,
    rsp.Command.KILL: GdbStub.kill,
    rsp.Command.INSERT_POINT: GdbStub.insert_point,
    rsp.Command.REMOVE_POINT: GdbStub.remove_point,
    rsp.Command.SET_THREAD: GdbStub.set_thread,
    rsp.Command.THREAD_ALIVE: GdbStub.thread_alive,
    rsp.Command.QUERY: GdbStub.query,
    rsp.Command.SET: GdbStub.set,
    rsp.Command.VERBOSE: GdbStub.verbose,
}

QUERIES: dict[bytes, Callable[[GdbStub, bytes], bytes]] = {
    b"Supported": GdbStub.supported,
    b"Offsets": GdbStub.offsets,
    b"Attached": GdbStub.attached,
    b"C": GdbStub.current_thread,
    b"fThreadInfo": GdbStub.first_thread,
    b"sThreadInfo": GdbStub.next_thread,
    b"Xfer": GdbStub.xfer,
    b"Rcmd": GdbStub.command,
}

MONITOR_COMMANDS: dict[str, Callable[[GdbStub, list[str]], str]] = {
    "help": GdbStub.monitor_help,
    "compartment": GdbStub.monitor_compartment,
    "compartments": GdbStub.monitor_compartments,
    "gates": GdbStub.monitor_gates,
    "crossings": GdbStub.monitor_crossings,
    "maps": GdbStub.monitor_maps,
    "backtrace": GdbStub.monitor_backtrace,
    "break-crossings": GdbStub.monitor_break_crossings,
}

MONITOR_HELP = {
    "compartment": "the compartment the thread is in: name, id, cr3, then each object its context maps",
    "compartments": "every compartment (* marks the current one)",
    "gates": "every gate: entry, compartment, library, arguments, isolation level, and who is bound to it",
    "crossings": "the live crossings, innermost first, as --trace words them",
    "maps": "slots, objects and permissions of the current address space",
    "backtrace": "frames across crossings: the callee's frames, each crossing, the caller's frames",
    "break-crossings on|off": "stop at every gate entry and return (the --trace line shows on the console)",
    "help": "this list",
}


def _watch_of(point: rsp.Point) -> Watch:
    kind = point.kind
    on_write = kind in (rsp.PointKind.WRITE_WATCH, rsp.PointKind.ACCESS_WATCH)
    on_read = kind in (rsp.PointKind.READ_WATCH, rsp.PointKind.ACCESS_WATCH)
    return Watch(point.address, point.size, on_write, on_read)


def _watch_hit(stop: Stop | None) -> tuple[str, int] | None:
    """The stop reply's watchpoint word and address, as gdb's Z2/Z3/Z4 name them."""
    if stop is None or stop.watch is None:
        return None
    watch = stop.watch
    word = "awatch" if watch.on_read and watch.on_write else "watch" if watch.on_write else "rwatch"
    return word, watch.address


def _mapping_line(mapping: SlotMapping, names: dict[object, str]) -> str:
    name = names.get(mapping.backing.key) or str(mapping.backing.key)
    rights = "".join(c if mapping.prot & p else "-" for c, p in (("r", Prot.READ), ("w", Prot.WRITE), ("x", Prot.EXEC)))
    return f"  slot {mapping.slot:#x} {mapping.base:#x} {rights} {name}"


DOCUMENTS: dict[str, Callable[[GdbStub], bytes]] = {
    "features": lambda _stub: target_xml(),
    "exec-file": GdbStub.exec_file,
    "libraries-svr4": GdbStub.libraries_svr4,
    "threads": GdbStub.threads,
}
