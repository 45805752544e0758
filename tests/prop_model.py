"""The adversarial property's oracle and strategies (tests/test_adversarial.py, issue 8 "Go beyond the list").

A drawn ``Example`` is a program of four compartments built from ``guests/prop`` (``prop.c`` says the script
language): the program ``driver`` (compartment 0) and ``libnode1..3.so`` (1..3), each with four gates, one per
isolation level; each compartment's caller level (``--caller-isolation``); which gates of the others each
compartment is bound to (a variant of ``libbind<c>.so``); what each initialiser does (a variant of
``libinit<c>.so``); and the program's script: nested crossings, callbacks, re-entry, and probes (read, write,
execute, call, return) of every kind of object at every moment.

``predict`` computes what the run must print from the security rules alone (README "Isolation", issue 8), never
from the monitor's code; the trust table comes from ``twzemu.security.levels``:

- a compartment's *memory* is its data, heap, stacks and TLS; text is never writable, and readable and
  executable only by its own compartment; nothing but a gate's entry can be called across compartments;
- callee -> caller: while B executes in a crossing from A whose effective level (``join(caller level of A,
  level of the gate)``) lets the callee touch the caller (``none``, ``callee``) — never in an initialiser, never
  through another crossing, never after it returned;
- caller -> callee: at any time, if A is bound to some gate of B and every gate of B it is bound to lets the
  caller touch the callee (``none``, ``caller``) when joined with A's caller level;
- at level ``none`` the callee runs on the stack its caller runs on (so it may touch that stack), else on one of
  its own; no frame is ever overwritten (every frame's canaries hold);
- a violation inside a crossing prints one report line and the crossing's call returns TWZ_EFAULT; outside any
  crossing (the program) it kills the run (status 139); a violation in a library's initialiser makes it fail:
  its gates answer TWZ_EPERM;
- a system call's buffer (``y``, ``Y``, ``o``: write, read and open) is checked by the same rules as the
  calling code's own access, and a refused one is EFAULT, with no report (issue 12);
- the gate buffer carries a message (twzemu/sdk/include/twz.h): at entry the callee holds what its caller wrote
  since its buffer last sent or received a message (zeros if nothing), at return the caller receives the callee's
  buffer if the callee wrote since its buffer last sent or received one, else keeps its own; a message crosses
  once: afterwards both sides' buffers are stale, and a call answered without entering (a failed compartment)
  consumes the caller's message too; the first write into a stale buffer zeroes the whole buffer;
- the first crossing into a compartment whose initialisers have not run runs them first.

Where the rules leave a choice open the prediction allows each choice, and says which (``Choices``): the order
of the libraries' initialisers (nothing orders independent libraries); whether a compartment's gate buffer is
one per compartment or one per activation (seen only after re-entry); whether a compartment has one stack or
one per activation (seen only by ``S`` when the caller ran on the callee's stack); and where a level-``none``
callee runs when its caller itself runs on a third compartment's stack (X -> Y -> Z, both at ``none``): there
too, as the letter of the stack rule says (and then it may touch that stack), or on its own stack, as "no third
compartment gains anything" asks.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from hypothesis import strategies as st

from twzemu.security.gates import IsolationLevel
from twzemu.security.levels import CrossingRules, crossing_rules

COMPARTMENTS = range(4)
NODES = (1, 2, 3)
BIND_VARIANTS = 9
INIT_VARIANTS = 4
LEVELS = range(4)
BUFFER = 4096
SLOTS_AT, SLOTS = 1024, 20  # forwarded addresses (a): slot C * 5 + K, left out of the hash
MESSAGE_END = 2048
EFAULT, EPERM = -14, -1
KILLED = 139
KINDS = "dhlts"  # data, heap, TLS, text, a stack frame
EXEC_KINDS = "dhlsb"  # b: the gate buffer
WRITABLE_KINDS = "dhlt"  # what Y (a system call writing a buffer) aims at: not a live frame
FETCH = "(?:execute|enter|return)"


def name(c: int) -> str:
    """The compartment's name in reports."""
    return "driver" if c == 0 else f"driver::libnode{c}.so"


def caller_isolation_key(c: int) -> str:
    """The NAME of ``--caller-isolation NAME=LEVEL`` for compartment ``c``."""
    return "driver" if c == 0 else f"libnode{c}.so"


# -- the built guests ---------------------------------------------------------------------------------------


class Guests:
    """Where the driver and the variants are, and what each variant binds and initialises (read from the files
    themselves: the binding is the relocations, the initialiser's script the bytes of ``prop_init_script``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.driver = root / "driver"
        if not self.driver.exists():
            raise FileNotFoundError(f"{self.driver} is not built: run `make guests`")

    def bind_dir(self, c: int, variant: int) -> Path:
        return self.root / "bind" / str(c) / str(variant)

    def init_dir(self, c: int, variant: int) -> Path:
        return self.root / "init" / str(c) / str(variant)

    def library_dirs(self, binds: Sequence[int], inits: Sequence[int]) -> list[Path]:
        return [d for c in COMPARTMENTS for d in (self.bind_dir(c, binds[c]), self.init_dir(c, inits[c]))]

    @functools.cache  # noqa: B019 (one Guests per session)
    def bound(self, c: int, variant: int) -> tuple[frozenset[int], ...]:
        """For each compartment, the levels of its gates compartment ``c`` is bound to in ``variant``."""
        levels: list[set[int]] = [set() for _ in COMPARTMENTS]
        with open(self.bind_dir(c, variant) / f"libbind{c}.so", "rb") as file:
            elf = ELFFile(file)
            for section in elf.iter_sections():
                if not isinstance(section, RelocationSection):
                    continue
                symbols = elf.get_section(section["sh_link"])
                for reloc in section.iter_relocations():
                    match = re.fullmatch(r"prop(\d)_(\d)", symbols.get_symbol(reloc["r_info_sym"]).name)
                    if match:
                        levels[int(match[1])].add(int(match[2]))
        return tuple(frozenset(s) for s in levels)

    @functools.cache  # noqa: B019
    def init_script(self, c: int, variant: int) -> str:
        with open(self.init_dir(c, variant) / f"libinit{c}.so", "rb") as file:
            elf = ELFFile(file)
            symbol = elf.get_section_by_name(".dynsym").get_symbol_by_name("prop_init_script")[0]
            section = elf.get_section(symbol["st_shndx"])
            start = symbol["st_value"] - section["sh_addr"]
            return section.data()[start : start + symbol["st_size"]].rstrip(b"\0").decode()

    @functools.cache  # noqa: B019
    def gate_sizes(self) -> dict[str, int]:
        sizes = {}
        for path in [self.driver, *(self.root / f"libnode{c}.so" for c in NODES)]:
            with open(path, "rb") as file:
                for symbol in ELFFile(file).get_section_by_name(".dynsym").iter_symbols():
                    if re.fullmatch(r"prop\d_\d", symbol.name):
                        sizes[symbol.name] = symbol["st_size"]
        return sizes


# -- examples -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    caller_levels: tuple[int, ...]  # per compartment
    binds: tuple[int, ...]  # libbind variant per compartment
    inits: tuple[int, ...]  # libinit variant per compartment
    script: str  # the program's

    def command_line(self, guests: Guests) -> str:
        """The same run as a `twzemu run` command line, for a failure's report."""
        dirs = " ".join(f"-L {d.relative_to(guests.root)}" for d in guests.library_dirs(self.binds, self.inits))
        levels = " ".join(
            f"--caller-isolation {caller_isolation_key(c)}={IsolationLevel(level).label}"
            for c, level in enumerate(self.caller_levels)
            if level
        )
        return f"cd {guests.root} && twzemu run {dirs} {levels} ./driver '{self.script}'"


def _others(c: int) -> list[int]:
    return [o for o in COMPARTMENTS if o != c]


_CALLS = "cccz"  # no bare calls: the canaries do not depend on the gate buffer's rules
_OPS = "cccbrrwwxegqphSzyYo"
_PROGRAM_OPS = "c" * 16 + "bbphSzzrwxegyYo"  # the program is outside any crossing: a violation there kills the run


class _Scripts:
    """Draws the scripts of one example: each op with its operands, a call with its callee's script."""

    def __init__(self, draw: st.DrawFn, bound: Sequence[Sequence[frozenset[int]]], calls_only: bool) -> None:
        self.draw = draw
        self.bound = bound
        self.calls_only = calls_only
        self.max_depth = 6 if calls_only else 3
        self.budget = 24 if calls_only else 20  # ops in the whole example

    def script(self, executor: int, caller: int | None, depth: int) -> str:
        draw = self.draw
        # probes aim at the caller (when there is one) as often as at anyone
        anyone = st.sampled_from(COMPARTMENTS)
        target = anyone if caller is None else st.one_of(st.just(caller), anyone)
        ops: list[str] = []
        for _ in range(draw(st.integers(1, 8) if depth == 0 else st.integers(0, 4))):
            if self.budget <= 0:
                break
            self.budget -= 1
            kind = draw(st.sampled_from(_CALLS if self.calls_only else _PROGRAM_OPS if depth == 0 else _OPS))
            if kind in "cbz" and depth >= self.max_depth:
                continue
            if kind in "cb":
                ops += self.call(kind, executor, depth)
            elif kind == "z":
                ops.append(f"z{draw(st.integers(1, 4))}{{{self.script(executor, caller, depth + 1)}}}")
            elif kind in "rwyo":
                ops.append(f"{kind}{draw(target)}{draw(st.sampled_from(KINDS))}")
            elif kind == "Y":
                ops.append(f"{kind}{draw(target)}{draw(st.sampled_from(WRITABLE_KINDS))}")
            elif kind == "x":
                ops.append(f"x{draw(target)}")
            elif kind == "e":
                ops.append(f"e{draw(target)}{draw(st.sampled_from(EXEC_KINDS))}")
            elif kind == "g":
                ops.append(f"g{draw(st.sampled_from(_others(executor)))}{draw(st.integers(1, 4))}")
            elif kind == "p":
                ops.append(f"p{draw(st.integers(0, 3))}")
            else:
                ops.append(kind)
        return " ".join(ops)

    def call(self, kind: str, executor: int, depth: int) -> list[str]:
        """A call to a gate this compartment is bound to (any level if none: it prints "unbound"), with addresses
        forwarded in the message and the callee's address kept (``a``, ``R``)."""
        draw = self.draw
        callee = draw(st.sampled_from(_others(executor)))
        level = draw(st.sampled_from(sorted(self.bound[executor][callee]) or LEVELS))
        if kind == "b":
            return [f"b{callee}{level}"]
        if self.calls_only:
            return [f"c{callee}{level}-{{{self.script(callee, executor, depth + 1)}}}"]
        forwards = draw(st.lists(st.tuples(st.sampled_from(COMPARTMENTS), st.sampled_from(KINDS)), max_size=2))
        keep = draw(st.sampled_from("-----dhlts"))
        sub = self.script(callee, executor, depth + 1) + (f" R{keep}" if keep != "-" else "")
        return [*(f"a{c}{k}" for c, k in forwards), f"c{callee}{level}{keep}{{{sub}}}"]


@st.composite
def examples(draw: st.DrawFn, guests: Guests, calls_only: bool = False) -> Example:
    """A whole program: levels, bindings, initialisers and the program's script. ``calls_only`` draws call graphs
    only (the canary property): every gate bound, no initialiser scripts, deeper nesting, padded frames."""
    levels = tuple(draw(st.lists(st.sampled_from([0, 0, 1, 2, 3]), min_size=4, max_size=4)))  # none: most trust
    if calls_only:
        binds, inits = (0, 0, 0, 0), (0, 0, 0, 0)
    else:
        binds = tuple(draw(st.lists(st.integers(0, BIND_VARIANTS - 1), min_size=4, max_size=4)))
        inits = tuple(draw(st.lists(st.integers(0, INIT_VARIANTS - 1), min_size=4, max_size=4)))
    bound = [guests.bound(c, binds[c]) for c in COMPARTMENTS]
    return Example(levels, binds, inits, _Scripts(draw, bound, calls_only).script(0, None, 0))


# -- the prediction -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What the rules leave open (module docstring)."""

    init_order: tuple[int, ...]  # the libraries' initialisers at start
    buffer_per_activation: bool  # else one gate buffer view per compartment
    borrowed_stack_passes: bool  # a level-none callee of a caller on another's stack runs there too, else on its own


def all_choices() -> Iterator[Choices]:
    """The likeliest first (last library first, one buffer per compartment, the stack rule's letter)."""
    orders = sorted(itertools.permutations(NODES), reverse=True)
    for per_activation, passes, order in itertools.product((False, True), (True, False), orders):
        yield Choices(order, per_activation, passes)


@dataclass(frozen=True)
class Line:
    """One expected stdout line: any of ``options``."""

    options: frozenset[str]

    def __str__(self) -> str:
        return " | ".join(sorted(self.options))


@dataclass(frozen=True)
class Report:
    """One expected stderr line: a regular expression; ``optional`` lines may be absent."""

    pattern: str
    optional: bool = False


@dataclass
class Prediction:
    stdout: list[Line] = field(default_factory=list)
    stderr: list[Report] = field(default_factory=list)
    status: int = 0

    def mismatch(self, status: int, stdout: str, stderr: str) -> str | None:
        """None if the run is as predicted, else what differs first."""
        out = stdout.splitlines()
        for i, (want, got) in enumerate(zip(self.stdout, out, strict=False)):
            if got not in want.options:
                return f"stdout line {i + 1}: expected {want}, got {got!r}"
        if len(out) != len(self.stdout):
            return f"stdout has {len(out)} lines, expected {len(self.stdout)}"
        lines = stderr.splitlines()
        at = 0
        for report in self.stderr:
            if at < len(lines) and re.fullmatch(report.pattern, lines[at]):
                at += 1
            elif not report.optional:
                got = repr(lines[at]) if at < len(lines) else "nothing"
                return f"stderr line {at + 1}: expected /{report.pattern}/, got {got}"
        if at != len(lines):
            return f"unexpected stderr line {at + 1}: {lines[at]!r}"
        if status != self.status:
            return f"status {status}, expected {self.status}"
        return None

    def render(self) -> str:
        return "\n".join(
            [
                *(f"  {line}" for line in self.stdout),
                *(f"  stderr /{r.pattern}/" for r in self.stderr),
                f"  status {self.status}",
            ]
        )


class Violation(Exception):
    def __init__(self, verb: str, owner: str, executor: int) -> None:
        super().__init__(verb, owner, executor)
        self.report = Report(
            rf"twzemu: security violation: {verb} .+ \(0x[0-9a-f]+\) in {re.escape(owner)} "
            rf"from {re.escape(name(executor))} at .+"
        )


# An address a compartment learnt: an object of a compartment, or a frame on a compartment's stack.
@dataclass(frozen=True)
class Obj:
    owner: int
    kind: str  # d h l t


@dataclass(frozen=True)
class Frame:
    owner: int  # whose stack the frame is on


Address = Obj | Frame


@dataclass(frozen=True)
class View:
    """A gate buffer as one side sees it (its bytes but the address slots, and what the slots hold), and whether
    that side wrote since it last received a message."""

    data: bytes = bytes(BUFFER)
    slots: tuple[Address | None, ...] = (None,) * SLOTS
    wrote: bool = False

    def describe(self) -> str:
        """What prop.c prints of it: the hash of its bytes (slots left out), how many slots are set."""
        return (
            f"{buffer_hash(self.data[:SLOTS_AT] + self.data[SLOTS_AT + 8 * SLOTS :]):08x} "
            f"{sum(slot is not None for slot in self.slots)}"
        )


ZEROS = View()


@dataclass
class Activation:
    """A compartment running: the program (from its initialiser on), an initialiser, or a gate."""

    comp: int
    caller: int | None = None  # the gate's caller
    rules: CrossingRules | None = None  # the gate's crossing
    stack: int = 0  # whose stack it runs on
    caller_stack: int | None = None  # whose stack the caller ran on
    view: View = ZEROS  # with per-activation buffers
    result: int | Address = 0
    forward: list[tuple[int, str]] = field(default_factory=list)  # slots to fill in the next message (a)


@functools.lru_cache(maxsize=4096)
def buffer_hash(data: bytes) -> int:
    """FNV-1a (32 bits) of the 4 KiB, as prop.c computes it; runs of zeros multiply by a power of the prime."""
    h, prime, mask, at = 2166136261, 16777619, 0xFFFFFFFF, 0
    for match in re.finditer(rb"[^\0]+", data):
        h = h * pow(prime, match.start() - at, mask + 1) & mask
        for byte in match[0]:
            h = (h ^ byte) * prime & mask
        at = match.end()
    return h * pow(prime, len(data) - at, mask + 1) & mask


def _message(text: str) -> bytes:
    raw = text.encode()
    return raw + bytes(BUFFER - len(raw))


def _slot(c: int, kind: str) -> int:
    return c * len(KINDS) + KINDS.index(kind)


def _block_end(script: str, start: int) -> int:
    depth = 1
    for i in range(start, len(script)):
        if script[i] == "{":
            depth += 1
        elif script[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(script)


class _Run:
    """One simulated run under one set of ``Choices``."""

    def __init__(self, example: Example, guests: Guests, choices: Choices, threaded: bool = False) -> None:
        self.threaded = threaded  # main's script runs on a thread of its own (prop.c "threads")
        self.levels = [IsolationLevel(level) for level in example.caller_levels]
        self.bound = [guests.bound(c, example.binds[c]) for c in COMPARTMENTS]
        self.init_scripts = [guests.init_script(c, example.inits[c]) for c in COMPARTMENTS]
        self.example = example
        self.choices = choices
        self.out = Prediction()
        self.memory = {(c, kind): 1000 + 10 * c + i + 1 for c in COMPARTMENTS for i, kind in enumerate("dhl")}
        self.writes = [0] * len(COMPARTMENTS)
        self.known: list[dict[tuple[int, str], Address]] = [{} for _ in COMPARTMENTS]
        self.init = ["no"] * len(COMPARTMENTS)  # no, running, done, failed
        self.views = [ZEROS] * len(COMPARTMENTS)  # one per compartment (unless per activation)

    # -- output ----------------------------------------------------------------------------------------

    def say(self, *options: str) -> None:
        self.out.stdout.append(Line(frozenset(options)))

    def predict(self) -> Prediction:
        try:
            for node in self.choices.init_order:
                if self.init[node] == "no":
                    self.initialise(node)
            program = Activation(0)  # outside any crossing: a violation kills the run
            self.init[0] = "running"
            self.say("0 init")
            self.run(program, self.init_scripts[0])
            self.init[0] = "done"
            program.forward.clear()  # main is another call of run (prop.c): nothing pending carries over
            if self.threaded:  # a new thread: its own gate buffer and TLS in every compartment, fresh
                self.views = [ZEROS] * len(COMPARTMENTS)
                program.view = ZEROS
                for c in COMPARTMENTS:
                    self.memory[c, "l"] = 1000 + 10 * c + 3
            self.run(program, self.example.script)
            self.say("0 done")
        except Violation as violation:
            self.out.stderr.append(violation.report)
            self.out.status = KILLED
        return self.out

    # -- the rules -----------------------------------------------------------------------------------------

    def caller_may_touch(self, x: int, owner: int) -> bool:
        """Caller -> callee: bound to some gate of ``owner`` and every such gate lets the caller in."""
        levels = self.bound[x][owner]
        return bool(levels) and all(
            crossing_rules(self.levels[x], IsolationLevel(g)).caller_writes_callee for g in levels
        )

    def may_touch(self, act: Activation, owner: int, on_stack: bool) -> bool:
        """May ``act`` read and write memory of ``owner`` (``on_stack``: a frame on ``owner``'s stack)?"""
        if owner == act.comp or (on_stack and act.stack == owner):
            return True
        if act.rules is not None and act.caller == owner and act.rules.callee_writes_caller:
            return True
        return self.caller_may_touch(act.comp, owner)

    # -- the gate buffer -----------------------------------------------------------------------------------

    def view(self, act: Activation) -> View:
        return act.view if self.choices.buffer_per_activation else self.views[act.comp]

    def set_view(self, act: Activation, view: View) -> None:
        if self.choices.buffer_per_activation:
            act.view = view
        else:
            self.views[act.comp] = view

    def write_message(self, act: Activation, data: bytes, slots: tuple[Address | None, ...] = ZEROS.slots) -> None:
        self.set_view(act, View(data, slots, True))

    def consume(self, act: Activation) -> None:
        """``act``'s message was sent (or its crossing answered without entering): its buffer is stale."""
        view = self.view(act)
        self.set_view(act, View(view.data, view.slots, False))

    def write_byte(self, act: Activation, offset: int, value: int) -> None:
        view = self.view(act) if self.view(act).wrote else ZEROS  # the first write starts a new message
        data = bytearray(view.data)
        data[offset] = value
        self.set_view(act, View(bytes(data), view.slots, True))

    # -- crossings -----------------------------------------------------------------------------------------

    def initialise(self, c: int) -> bool:
        """Run ``c``'s initialiser (at start, or before the first crossing into it); False if it failed."""
        self.init[c] = "running"
        act = Activation(c, stack=c)
        self.say(f"{c} init")
        try:
            self.run(act, self.init_scripts[c])
        except Violation as violation:
            self.out.stderr.append(violation.report)
            self.out.stderr.append(
                Report(rf"twzemu: compartment {re.escape(name(c))} failed to initialise.*", optional=True)
            )
            self.init[c] = "failed"
            return False
        self.init[c] = "done"
        return True

    def cross(self, caller: Activation, j: int, level: int) -> int | Address:
        if (self.init[j] == "no" and not self.initialise(j)) or self.init[j] == "failed":
            self.consume(caller)  # answered without entering: the message was for that crossing
            return EPERM
        assert self.init[j] == "done", f"a crossing into {name(j)} while its initialiser runs"
        rules = crossing_rules(self.levels[caller.comp], IsolationLevel(level))
        shares = not rules.callee_stack_fresh and (caller.stack == caller.comp or self.choices.borrowed_stack_passes)
        stack = caller.stack if shares else j
        callee = Activation(j, caller.comp, rules, stack, caller.stack, result=100 + 10 * j + level)
        sent = self.view(caller)
        received = View(sent.data, sent.slots, False) if sent.wrote else ZEROS
        self.consume(caller)
        self.set_view(callee, received)
        known = self.known[j]
        for slot, address in enumerate(received.slots):
            if address is not None and slot // len(KINDS) != j:
                known[(slot // len(KINDS), KINDS[slot % len(KINDS)])] = address
        self.say(f"{j} in {caller.comp} {level} {received.describe()}")
        known[(caller.comp, "s")] = Frame(caller.stack)
        for kind in "dhlt":
            known[(caller.comp, kind)] = Obj(caller.comp, kind)
        try:
            result = self.run(callee, received.data.split(b"\0", 1)[0][:1023].decode())
        except Violation as violation:
            self.out.stderr.append(violation.report)
            return EFAULT
        reply = self.view(callee)
        if reply.wrote:
            self.set_view(caller, View(reply.data, reply.slots, False))
            self.consume(callee)
        return result

    def call(self, act: Activation, op: str, j: int, level_char: str, keep: str, sub: str) -> None:
        x = act.comp
        bound = self.bound[x][j]
        level = (min(bound) if bound else None) if level_char == "*" else int(level_char)
        what = f"{op}{j}{level_char if level is None else level}"
        if level is None or level not in bound:
            self.say(f"{x} {what} unbound")
            return
        if op == "c":
            slots: list[Address | None] = [None] * SLOTS
            for c, kind in act.forward:
                slots[_slot(c, kind)] = self.address(act, c, kind)
            act.forward.clear()
            self.write_message(act, _message(sub), tuple(slots))
        result = self.cross(act, j, level)
        if result in (EFAULT, EPERM):
            self.write_message(act, bytes(BUFFER))
        self.say(f"{x} {what} {result if isinstance(result, int) else 'addr'}")
        if op == "c" and keep != "-" and result not in (EFAULT, EPERM):
            assert not isinstance(result, int), f"{name(j)} returned {result}, not an address: a bad script"
            self.known[x][(j, keep)] = result

    # -- the interpreter (prop.c's run) --------------------------------------------------------------------

    def address(self, act: Activation, c: int, kind: str) -> Address | None:
        if c == act.comp:
            return Frame(act.stack) if kind == "s" else Obj(c, kind)
        return self.known[act.comp].get((c, kind))

    def touch(self, act: Activation, op: str, target: Address) -> None:
        """A read or write of ``target`` by ``act``: a violation unless the rules allow it."""
        verb = "read" if op == "r" else "write"
        if isinstance(target, Obj) and target.kind == "t":
            if op == "w" or target.owner != act.comp:
                raise Violation(verb, name(target.owner), act.comp)
            return
        owner = target.owner
        if not self.may_touch(act, owner, isinstance(target, Frame)):
            # a frame is written by reading the word and writing it back: the read is what faults
            raise Violation("read" if isinstance(target, Frame) else verb, name(owner), act.comp)

    def allows(self, act: Activation, op: str, target: Address) -> bool:
        """Would ``act``'s own read (``r``) or write (``w``) of ``target`` be allowed? A system call's buffer is
        checked by the same rules, but refused with EFAULT rather than reported."""
        try:
            self.touch(act, op, target)
        except Violation:
            return False
        return True

    def run(self, act: Activation, script: str) -> int | Address:
        x, i = act.comp, 0
        while i < len(script):
            op = script[i]
            if op in " }":
                i += 1
                continue
            arg1, arg2 = script[i + 1 : i + 2], script[i + 2 : i + 3]
            what = op + arg1 + arg2
            if op == "c":
                end = _block_end(script, i + 5)
                self.call(act, op, int(arg1), arg2, script[i + 3], script[i + 5 : end])
                i = end + 1
            elif op == "b":
                self.call(act, op, int(arg1), arg2, "-", "")
                i += 3
            elif op in "rw":
                i += 3
                target = self.address(act, int(arg1), arg2)
                if target is None:
                    self.say(f"{x} {what} skip")
                    continue
                if op == "w" and arg2 in "dhl":
                    self.writes[x] += 1
                self.touch(act, op, target)
                if op == "w" and arg2 in "dhl":
                    assert isinstance(target, Obj)
                    self.memory[(target.owner, target.kind)] = 10000 * (x + 1) + self.writes[x]
                if op == "r" and arg2 in "dhl":
                    assert isinstance(target, Obj)
                    self.say(f"{x} {what} {self.memory[(target.owner, target.kind)]}")
                else:
                    self.say(f"{x} {what} ok")
            elif op in "yYo":
                i += 3
                target = self.address(act, int(arg1), arg2)
                if target is None:
                    self.say(f"{x} {what} skip")
                elif not self.allows(act, "w" if op == "Y" else "r", target):
                    self.say(f"{x} {what} efault")  # the monitor refuses the buffer; nothing is reported
                elif op == "Y" and isinstance(target, Obj) and target.kind in "dhl":
                    self.writes[x] += 1
                    self.memory[(target.owner, target.kind)] = 10000 * (x + 1) + self.writes[x]
                    self.say(f"{x} {what} {self.memory[(target.owner, target.kind)]}")
                else:
                    self.say(f"{x} {what} ok")
            elif op == "x":
                i += 2
                target = self.address(act, int(arg1), "t")
                if target is None:
                    self.say(f"{x} {op}{arg1} skip")
                    continue
                if target.owner != x:
                    raise Violation(FETCH, name(target.owner), x)
                self.say(f"{x} {op}{arg1} {500 + 10 * target.owner}")
            elif op == "e":
                i += 3
                if arg2 == "b":
                    raise Violation(FETCH, "gate buffer", x)
                target = self.address(act, int(arg1), arg2)
                if target is None:
                    self.say(f"{x} {what} skip")
                    continue
                raise Violation(FETCH, name(target.owner), x)
            elif op == "g":
                i += 3
                j = int(arg1)
                if not self.bound[x][j]:
                    self.say(f"{x} {what} unbound")
                    continue
                raise Violation(FETCH, name(j), x)
            elif op == "q":
                i += 1
                if act.caller is None:
                    self.say(f"{x} q none")
                    continue
                raise Violation(FETCH, name(act.caller), x)
            elif op == "p":
                i += 2
                self.write_byte(act, MESSAGE_END + 512 * int(arg1) + 7, 0x41 + x)
                self.say(f"{x} {op}{arg1} ok")
            elif op == "h":
                i += 1
                self.say(f"{x} h {self.view(act).describe()}")
            elif op == "a":
                i += 3
                act.forward.append((int(arg1), arg2))
            elif op == "S":
                i += 1
                self.say(*self.same_stack(act))
            elif op == "z":
                end = _block_end(script, i + 3)
                self.run(act, script[i + 3 : end])
                i = end + 1
            elif op == "R":
                i += 2
                act.result = self.address(act, x, arg1)
            else:
                raise AssertionError(f"bad script at {script[i:]!r}")
        return act.result

    @staticmethod
    def same_stack(act: Activation) -> tuple[str, ...]:
        x = act.comp
        if act.caller is None:
            return (f"{x} S none",)
        if act.stack == act.caller_stack:
            # level none: the caller's stack; or the caller ran on this compartment's own stack, which this gate
            # may get again or a fresh one of (a compartment's stacks are its own either way)
            assert act.rules is not None
            return (f"{x} S 1",) if not act.rules.callee_stack_fresh else (f"{x} S 0", f"{x} S 1")
        return (f"{x} S 0",)


def predictions(example: Example, guests: Guests, threaded: bool = False) -> Iterator[tuple[Choices, Prediction]]:
    """What the rules allow ``example`` to print, under each choice the rules leave open; ``threaded``: its script
    runs on a thread of its own (prop.c's "threads"), after the initialisers ran on the first."""
    for choices in all_choices():
        yield choices, _Run(example, guests, choices, threaded).predict()
