"""The holes of the isolation issue (issue 8), each tried by a guest in guests/attacks/holes/, through the real CLI.

Every one of them got through on 9b0a4cf: memory granted between compartments that never call each other (1),
flags and x87 pointers carried across gates (4), a re-entry frame built over live frames (5), one gate buffer
readable by everyone (6), gates callable before their compartment's initialisers ran (7), and a tail call into a
level-none gate that killed the run (8). Gate records and reserved names (2, 3) are in test_link_attacks.py;
`int n`, running out of memory and deep nesting (8) in test_traps.py and test_isolation.py.
"""

from __future__ import annotations

from conftest import guest, twzemu
from reports import HEX, KILLED, check_lines, violation


def run(name: str, *options: str):
    done = twzemu("run", *options, str(guest(f"holes/{name}")))
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_memory_is_granted_per_crossing_and_per_binding_never_to_a_third_compartment():
    """Hole 1. A callee sees its caller's memory only while that caller's crossing into it lives, and as the level
    of the gate crossed allows (per gate, not the strictest of the library's); a caller sees a callee's memory
    only if it is bound to the callee's gates at a level that allows it; nobody else ever gains anything — not
    the peer that the program trusts with its own memory, not in a crossing from someone else, not in an
    initialiser."""
    done = run("grants")
    assert done.status == KILLED
    assert done.stdout == (
        "peer reads the secret library's data while I call it: -14\n"
        "peer writes the secret library's data while I call it: -14\n"
        "secret still: 0x5ec2e7\n"
        "peer reads my data while I call it: 0x600d\n"
        "peer writes my data while I call it: 0\n"
        "my data: 0x1234\n"
        "peer reads my data again in my next crossing: 0x1234\n"
        "peer reads my data in a crossing from the mixed library: -14\n"
        "early library: -1\n"
        "mixed, level none gate, reads my data: 0x1234\n"
        "mixed, level full gate, reads my data: -14\n"
        "I read the open library's data: 0xbe7\n"
        "I read the secret library's data: "
    )
    check_lines(
        done.stderr,
        [
            violation("read", r"_DYNAMIC\+0x0", "grants", "grants::libgearly.so", r"peek\+0x0"),
            r"twzemu: compartment grants::libgearly\.so failed to initialise: its gates answer TWZ_EPERM",
            violation("read", r"secret\+0x0", "grants::libgsecret.so", "grants::libgpeer.so", r"gpeer_read\+0x0"),
            violation("write", r"secret\+0x0", "grants::libgsecret.so", "grants::libgpeer.so", r"gpeer_write\+0x0"),
            violation("read", r"mine\+0x0", "grants", "grants::libgpeer.so", rf"gpeer_read_kept\+{HEX}"),
            violation("read", r"mine\+0x0", "grants", "grants::libgmixed.so", r"gmixed_full_read\+0x0"),
            violation("read", r"secret\+0x0", "grants::libgsecret.so", "grants", rf"main\+{HEX}"),
        ],
    )


def test_callee_and_caller_start_with_clean_flags_and_x87_pointers():
    """Hole 4. The callee starts with the psABI's RFLAGS (DF, AC, TF and the arithmetic flags clear) however
    the caller left them; the caller gets DF clear and nothing of the callee's flags; the x87 last-instruction
    and last-operand pointers never carry the other side's addresses."""
    done = run("flags")
    assert (done.status, done.stderr) == (0, "")
    assert done.stdout == (
        "callee starts with DF clear, AC clear, TF clear, arithmetic flags clear\n"
        "caller gets DF clear, AC clear, arithmetic flags clear\n"
        "callee sees x87 pointers: none\n"
        "caller sees x87 pointers after the call: none\n"
    )


def test_a_reentry_frame_goes_below_every_live_frame_on_its_stack():
    """Hole 5. The program calls y at level none (y runs on the program's stack), y calls z, z calls the program's
    gate back: the program's new frame goes below y's frames, whose canaries all survive."""
    done = run("frames")
    assert (done.status, done.stderr) == (0, "")
    assert done.stdout == "callback returned 0x82\ny's canaries corrupted: 0\n"


def test_what_two_compartments_exchange_in_the_gate_buffer_no_third_reads():
    """Hole 6. The password and the session key two compartments exchanged never reach a third: not when the
    program calls it next without writing, not after the program writes a shorter message, not when the secret
    library calls it in the middle of serving the program. A fetch from the gate buffer names it."""
    done = run("buffer")
    assert done.status == 0
    assert done.stdout == (
        "login: 1\n"
        "received: session-key-4242\n"
        "snoop finds 0 bytes after the exchange\n"
        "received, still: session-key-4242\n"
        "snoop finds 2 bytes of my new message\n"
        "snoop called by the secret library finds 0 bytes\n"
        "snoop executes its gate buffer: -14\n"
        "snoop still: 0\n"
    )
    check_lines(
        done.stderr,
        [
            violation("execute", r"gate buffer\+0x0", "gate buffer", "buffer::libgbufsnoop.so", r"gate buffer\+0x0"),
        ],
    )


def test_a_compartment_is_initialised_before_its_first_crossing_and_a_cycle_is_refused():
    """Hole 7. libginitevil's constructor calls libginitsecret's gate before libginitsecret's turn: its
    constructor runs first. libgcyclea and libgcycleb call each other from their constructors: the call that
    closes the cycle answers TWZ_EPERM, with one line; both compartments work afterwards."""
    done = run("init")
    assert done.status == 0
    assert done.stdout == (
        "the evil library's constructor saw the secret library initialised\nsecret ready: 1\ncycle: a saw -1, b saw 1\n"
    )
    assert done.stderr == (
        "twzemu: fault: initialisation cycle: init::libgcycleb.so is still initialising: init::libgcyclea.so "
        "calling gate gcycleb_ping of init::libgcycleb.so refused (TWZ_EPERM)\n"
    )


def test_a_gate_may_tail_call_a_level_none_gate():
    """Hole 8. At -O2 `return other(x);` is a jmp: the level-none callee runs on the tail-calling gate's stack
    and returns through the monitor's return point, ending both crossings."""
    done = run("tail")
    assert (done.status, done.stdout, done.stderr) == (0, "tail call: 42\n", "")


def test_tail_call_and_trace_agree():
    """The same run traced (every crossing through Python) gives the guest the same results."""
    done = run("tail", "--trace")
    assert (done.status, done.stdout) == (0, "tail call: 42\n")
    assert "twzemu: trace: enter T1 tail::libgtail.so -> tail::libgtailnone.so gtailnone_twice(0x15)" in done.stderr
