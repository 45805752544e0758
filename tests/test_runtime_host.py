"""The guest C runtime (``guests/rt/``), checked on the host.

Each runtime file is compiled twice. With the guest flags, into ``libtwzrt.so`` and ``crt0.o`` as the build
does: a syntax error, an export outside the Guest ABI or a symbol the library cannot resolve fails here. And
for the host, with ``-DTWZ_HOST_TEST`` (``guests/rt/sys.h``: the service calls become functions that
``tests/host/host_sys.c`` plays) and every public name renamed ``rt_*``, linked with a driver from
``tests/host/`` that runs glibc and the runtime side by side. Hypothesis writes the driver's input; the
drivers' line protocols are described at the top of each driver.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st

RT = ROOT / "guests" / "rt"
INCLUDE = ROOT / "guests" / "include"
HOST = ROOT / "tests" / "host"

CRT0 = "crt0.S"
LIBRARY_SOURCES = ("format.c", "stdio.c", "malloc.c", "string.c", "stdlib.c", "start.c", "twz.c", "io.c")
# twz.c reads the guest's TCB at fs:0 and io.c is the first guests' raw output: neither runs on the host.
HOST_SOURCES = ("format.c", "stdio.c", "malloc.c", "string.c", "stdlib.c", "start.c")

STANDARD_EXPORTS = frozenset({
    "printf", "fprintf", "sprintf", "snprintf", "vprintf", "vfprintf", "vsprintf", "vsnprintf", "fputc", "putc",
    "putchar", "fputs", "puts", "fwrite", "fflush", "stdout", "stderr", "malloc", "calloc", "realloc", "free",
    "exit", "_Exit", "abort", "atexit", "abs", "labs", "atoi", "strtol", "strtoul", "qsort", "environ", "getenv",
    "memcpy", "memmove", "memset", "memcmp", "memchr", "strlen", "strnlen", "strcmp", "strncmp", "strcpy",
    "strncpy", "strcat", "strchr", "strrchr", "strstr", "strdup",
})  # fmt: skip
TWZ_EXPORTS = frozenset({
    "twz_caller_compartment", "twz_gate_buffer", "twz_monitor_nop", "twz_compartment_id", "twz_compartment_name",
    "__tls_get_addr", "__twz_start",
    "twz_exit", "twz_write", "twz_puts", "twz_strlen",  # the first guests' runtime (twz_rt.h)
})  # fmt: skip


def output_of(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def gcc_include() -> str:
    return output_of("gcc", "-print-file-name=include").strip()


def guest_flags() -> list[str]:
    """The contract's flags for runtime files: freestanding, position-independent, warnings are errors."""
    return [
        "-ffreestanding",
        "-nostdlib",
        "-nostdinc",
        "-fPIC",
        "-O2",
        "-fno-stack-protector",
        "-fcf-protection=none",
        "-fno-builtin",
        "-Wall",
        "-Werror",
        "-isystem",
        gcc_include(),
        "-I",
        str(INCLUDE),
    ]


def host_flags() -> list[str]:
    renames = [f"-D{name}=rt_{name}" for name in sorted(STANDARD_EXPORTS)]
    return [*guest_flags(), "-DTWZ_HOST_TEST", *renames]


def run_all(commands: Sequence[Sequence[str]]) -> None:
    """Runs the commands in parallel; any failure fails the test with gcc's message."""
    running = [(c, subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)) for c in commands]
    for command, process in running:
        output, _ = process.communicate()
        assert process.returncode == 0, f"{' '.join(command)}\n{output}"


@dataclass(frozen=True)
class Built:
    library: Path
    crt0: Path
    string_object: Path
    drivers: dict[str, Path]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("rt")
    guest = {src: out / f"guest-{src}.o" for src in (*LIBRARY_SOURCES, CRT0)}
    host = {src: out / f"host-{src}.o" for src in HOST_SOURCES}
    run_all(
        [["gcc", *guest_flags(), "-c", str(RT / src), "-o", str(obj)] for src, obj in guest.items()]
        + [["gcc", *host_flags(), "-c", str(RT / src), "-o", str(obj)] for src, obj in host.items()]
    )
    library = out / "libtwzrt.so"
    drivers = {name: out / name for name in ("format_driver", "malloc_driver", "libc_driver", "stdio_driver")}
    link_library = ["gcc", "-shared", "-nostdlib", "-Wl,-z,defs", "-o", str(library)]
    link_library += [str(guest[src]) for src in LIBRARY_SOURCES]
    host_objects = [str(obj) for obj in host.values()]
    run_all(
        [link_library]
        + [
            [
                "gcc",
                "-O1",
                "-Wall",
                "-Werror",
                "-iquote",
                str(INCLUDE),
                "-iquote",
                str(HOST),
                str(HOST / f"{name}.c"),
                str(HOST / "host_sys.c"),
                *host_objects,
                "-o",
                str(path),
            ]
            for name, path in drivers.items()
        ]
    )
    return Built(library, guest[CRT0], guest["string.c"], drivers)


def symbols(*args: str) -> set[str]:
    return {line.split()[-1] for line in output_of("nm", *args).splitlines() if line.strip()}


# --- the build: what libtwzrt.so and crt0.o export and need --------------------------------------------------


def test_library_exports_exactly_the_guest_abi(built):
    assert symbols("-D", "--defined-only", str(built.library)) == STANDARD_EXPORTS | TWZ_EXPORTS


MONITOR_SERVICES = {
    "__twz_monitor_write",
    "__twz_monitor_heap_grow",
    "__twz_monitor_exit",
    "__twz_monitor_nop",
    "__twz_monitor_compartment_info",
}


def test_library_resolves_everything_itself_but_the_monitor_services(built):
    # Linked with -z defs too; main in particular comes from crt0 as an argument, not by lookup. The only
    # undefined symbols are the monitor's gates (weak: the monitor binds them at load time).
    assert symbols("-D", "--undefined-only", str(built.library)) == MONITOR_SERVICES


def test_crt0_defines_only_start_and_calls_into_the_library(built):
    assert symbols("--defined-only", str(built.crt0)) == {"_start"}
    assert symbols("--undefined-only", str(built.crt0)) - {"_GLOBAL_OFFSET_TABLE_"} == {"__twz_start", "main"}


def function_bodies(disassembly: str) -> dict[str, str]:
    return dict(re.findall(r"^[0-9a-f]+ <(\w+)>:\n(.*?)(?=^\n|\Z)", disassembly, re.M | re.S))


def test_block_moves_never_call_out(built):
    # gcc may compile a copy loop into a call to memcpy, which inside memcpy would recurse forever.
    bodies = function_bodies(output_of("objdump", "-dr", str(built.string_object)))
    for name in ("memcpy", "memset", "memcmp"):
        assert not re.search(r"call|R_X86_64_PLT32", bodies[name]), bodies[name]
    assert set(re.findall(r"R_X86_64_PLT32\s+(\w+)", bodies["memmove"])) <= {"memcpy"}


# --- drivers ---------------------------------------------------------------------------------------------------


class LineDriver:
    """A driver process answering one line per line of input."""

    def __init__(self, path: Path):
        self.process = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line: str) -> str:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, f"driver died (status {self.process.poll()}) on: {line}"
        return answer.rstrip("\n")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def format_driver(built) -> Iterator[LineDriver]:
    driver = LineDriver(built.drivers["format_driver"])
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def libc_driver(built) -> Iterator[LineDriver]:
    driver = LineDriver(built.drivers["libc_driver"])
    yield driver
    driver.close()


# --- printf: the formatting core against glibc -----------------------------------------------------------------

Arg = int | bytes | None  # None is a NULL pointer


def encode(arg: Arg) -> str:
    if isinstance(arg, bytes):
        return "s" + arg.hex()
    return f"i{arg or 0}"


def check_format(driver: LineDriver, fmt: str, args: Sequence[Arg] = (), size: int | None = None) -> None:
    """snprintf into a buffer of `size` (sprintf when None): result, bytes and untouched guard must match."""
    mode = "s 0" if size is None else f"n {size}"
    answer = driver.ask(f"{mode} f{fmt.encode().hex()} {' '.join(encode(a) for a in args)}".rstrip())
    glibc_result, glibc_out, rt_result, rt_out = answer.split()
    assert (int(rt_result), bytes.fromhex(rt_out)) == (int(glibc_result), bytes.fromhex(glibc_out)), (fmt, args, size)


INT_MIN, INT_MAX, LLONG_MIN, LLONG_MAX = -(2**31), 2**31 - 1, -(2**63), 2**63 - 1

FORMAT_TABLE: list[tuple[str, tuple[Arg, ...]]] = [
    ("plain text", ()),
    ("", ()),
    ("%%|%5%|%-5%", ()),
    ("%d|%i|%u", (0, -1, -1)),
    ("%d %d %d", (INT_MIN, INT_MAX, 2**32 + 5)),
    ("%ld %lld %zd", (LLONG_MIN, LLONG_MAX, -1)),
    ("%lu %llu %zu %ju %tu", (-1, -1, -1, -1, LLONG_MIN)),
    ("%hd %hu %hhd %hhu", (70000, 70000, 200, 300)),
    ("%x %X %#x %#X %#lx", (255, 255, 255, 255, -1)),
    ("%#x %#.0x %.0d %.0u %5.0d|", (0, 0, 0, 0, 0)),
    ("%+d % d %+ d % +d %+u % x", (5, 5, 5, 5, 5, 5)),
    ("%05d %-5d| %-05d| %05.3d %0*d", (-42, -42, 42, 7, 6, -3)),
    ("%.10d %.1d %10.4x %-10.4X|", (-123, 0, 0xAB, 0xAB)),
    ("%*d|%-*d|%*d", (6, 1, 6, 1, -6, 1)),
    ("%.*d|%.*d|%.*s", (3, 7, -1, 7, 2, b"abc")),
    ("%p %p %p", (None, 1, -1)),
    ("%20p|%-20p|%020p|%.20p|%+p|% p|%#p", (0x1234, 0x1234, 0x1234, 0x1234, 0x1234, 0x1234, 0x1234)),
    ("%10p|%-10p|%010p|%.2p", (None, None, None, None)),
    ("%s|%10s|%-10s|%.2s|%.0s", (b"hello",) * 5),
    ("%s|%.5s|%.6s|%10s", (None, None, None, None)),
    ("%c%c%c|%5c|%-5c|", (ord("a"), 0, 0x141, ord("b"), ord("c"))),
    ("%05s|%05c", (b"ab", ord("c"))),
    ("%300d|%-300s|", (1, b"x")),
    ("%.300d", (-1,)),
    ("%y|%5y|%-5.2y", ()),
    ("trailing %", ()),
    ("%-", ()),
    ("%5.", ()),
    ("%l", ()),
    ("%5.3s|%-8.2s|", (b"abcdef", b"abcdef")),
]


@pytest.mark.parametrize(("fmt", "args"), FORMAT_TABLE)
def test_format_table_matches_glibc(format_driver, fmt, args):
    for size in (None, 0, 1, 2, 5, 16, 4096):
        check_format(format_driver, fmt, args, size)


BOUNDARIES = [
    0,
    1,
    -1,
    127,
    128,
    255,
    256,
    32767,
    32768,
    65535,
    65536,
    INT_MAX,
    INT_MIN,
    2**32 - 1,
    2**32,
    LLONG_MAX,
    LLONG_MIN,
]
INTEGERS = st.one_of(st.sampled_from(BOUNDARIES), st.integers(LLONG_MIN, LLONG_MAX), st.integers(-1000, 1000))
STRINGS = st.one_of(st.none(), st.binary(max_size=30).map(lambda b: b.replace(b"\0", b"?")))
LITERAL = st.text(st.characters(min_codepoint=1, max_codepoint=127, exclude_characters="%"), max_size=6)


@st.composite
def conversions(draw) -> tuple[str, list[Arg]]:
    """One conversion with the arguments it consumes; only combinations whose glibc output is defined."""
    conv = draw(st.sampled_from("diuxXpsc%"))
    if conv == "%":
        return "%%", []
    args: list[Arg] = []
    flags = "".join(draw(st.lists(st.sampled_from("-0+ #"), max_size=3)))
    width = draw(st.sampled_from(["", "*", "n"]))
    if width == "*":
        args.append(draw(st.integers(-40, 40)))
    elif width == "n":
        width = str(draw(st.integers(1, 40)))
    precision = draw(st.sampled_from(["", ".", ".*", ".n"])) if conv != "c" else ""
    if precision == ".*":
        args.append(draw(st.integers(-5, 40)))
    elif precision == ".n":
        precision = f".{draw(st.integers(0, 40))}"
    length = draw(st.sampled_from(["", "hh", "h", "l", "ll", "z", "j", "t"])) if conv in "diuxX" else ""
    args.append(draw(STRINGS if conv == "s" else INTEGERS))
    return f"%{flags}{width}{precision}{length}{conv}", args


@st.composite
def formats(draw) -> tuple[str, list[Arg]]:
    fmt, args = draw(LITERAL), []
    for (spec, spec_args), literal in draw(st.lists(st.tuples(conversions(), LITERAL), min_size=1, max_size=4)):
        fmt += spec + literal
        args += spec_args
    return fmt, args


@given(st.lists(st.tuples(formats(), st.one_of(st.integers(0, 48), st.just(600), st.none())), min_size=1, max_size=8))
def test_random_formats_match_glibc(format_driver, cases):
    for (fmt, args), size in cases:
        check_format(format_driver, fmt, args, size)


# --- malloc: random sequences on a host arena -----------------------------------------------------------------

GROW_UNIT = 64 * 1024


def run_malloc(built: Built, commands: Sequence[str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(built.drivers["malloc_driver"]), *argv],
        input="".join(c + "\n" for c in commands),
        capture_output=True,
        text=True,
        timeout=20,
    )


def answers(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The driver's answers; it checks every live block after every command and reports FAIL itself."""
    assert "FAIL" not in done.stdout and done.returncode == 0, done.stdout[-2000:]
    return done.stdout.splitlines()


SLOTS = st.integers(0, 11)
SIZES = st.one_of(st.integers(0, 64), st.integers(0, 64), st.integers(0, 2048), st.integers(0, 150_000))
MALLOC_COMMANDS = st.lists(
    st.one_of(
        st.builds("m {} {}".format, SLOTS, SIZES),
        st.builds("c {} {} {}".format, SLOTS, st.integers(0, 40), st.integers(0, 300)),
        st.builds("r {} {}".format, SLOTS, SIZES),
        st.builds("f {}".format, SLOTS),
    ),
    max_size=60,
)


@given(MALLOC_COMMANDS)
def test_malloc_blocks_are_aligned_disjoint_and_keep_their_contents(built, commands):
    lines = answers(run_malloc(built, [*commands, "F", "G"]))
    assert lines[: len(commands)] == ["ok"] * len(commands)
    grown = int(lines[-1].split()[1])
    assert grown % GROW_UNIT == 0
    if grown:
        # Freed blocks merge with their neighbours: once all are free, the whole heap is one chunk again.
        whole = grown - 24  # the heap less the fence header and this block's own header word
        assert answers(run_malloc(built, [*commands, "F", f"m 0 {whole}", "G"]))[-2:] == ["ok", f"grown {grown}"]


@given(MALLOC_COMMANDS)
def test_malloc_copes_with_a_heap_in_pieces(built, commands):
    # The monitor grows the heap contiguously; if it ever did not, each piece must stand on its own.
    lines = answers(run_malloc(built, commands, str(64 << 20), "4096"))
    assert lines == ["ok"] * len(commands)


def test_malloc_never_splits_off_a_chunk_too_small_to_be_free(built):
    # The 48-byte chunk freed from slot 0 serves a 32-byte request; its 16-byte rest could not hold the bin
    # links of a free chunk (they would land on slot 1's header), so the whole chunk is handed out.
    commands = ["m 0 40", "m 1 8", "f 0", "m 2 8", "r 1 8", "F", "G"]
    lines = answers(run_malloc(built, commands))
    assert lines == ["ok"] * 6 + [f"grown {GROW_UNIT}"]


def test_malloc_fails_cleanly_when_memory_runs_out_or_sizes_overflow(built):
    lines = answers(
        run_malloc(
            built,
            [
                "m 0 100",
                "m 1 1000000",
                f"m 2 {2**63}",
                f"m 3 {2**64 - 1}",
                f"c 4 {2**62} 8",
                f"c 5 {2**32} {2**32}",
                f"r 0 {2**63}",
                "m 6 0",
                "m 7 0",
                "r 0 0",
                "m 8 150000",
                "m 9 150000",
                "G",
            ],
            str(256 * 1024),
        )
    )
    assert lines == [
        "ok",
        "null",
        "null",
        "null",
        "null",
        "null",
        "null",
        "ok",
        "ok",
        "ok",
        "ok",
        "null",
        f"grown {256 * 1024}",
    ]


def test_double_free_aborts(built):
    done = run_malloc(built, ["m 0 10", "d 0", "f 0"])
    message = b"free(): double free or invalid pointer\n".hex()
    assert (done.returncode, done.stdout.splitlines()[-2:]) == (134, [f"write 2 {message}", "exit 134"])


# --- stdlib and string functions against glibc ----------------------------------------------------------------


def check_libc(driver: LineDriver, line: str) -> None:
    glibc, rt = driver.ask(line).split("|")
    assert rt.split() == glibc.split(), line


NUMBER_TEXT = st.builds(
    "{}{}{}{}{}".format,
    st.sampled_from(["", " ", "\t\n ", "\v\f\r"]),
    st.sampled_from(["", "-", "+", "--", "+-"]),
    st.sampled_from(["", "0", "0x", "0X", "00x", "0x0"]),
    st.text("0123456789abcdefxzABCDEFXZ", max_size=25),
    st.sampled_from(["", " ", "!", "9"]),
)
BASES = st.one_of(st.sampled_from([0, 2, 8, 10, 16, 36]), st.integers(2, 36))


@given(st.lists(st.tuples(st.sampled_from("lu"), BASES, NUMBER_TEXT), min_size=1, max_size=10))
def test_strtol_and_strtoul_match_glibc(libc_driver, cases):
    for op, base, text in cases:
        check_libc(libc_driver, f"{op} {base} x{text.encode().hex()}")


NUMBER_LIMITS = [
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "-18446744073709551615",
    "-18446744073709551616",
    "0x",
    "0x1g",
    "-0",
    "  +7z",
]


@pytest.mark.parametrize("text", NUMBER_LIMITS)
def test_number_limits_match_glibc(libc_driver, text):
    for base in (0, 10, 16):
        check_libc(libc_driver, f"l {base} x{text.encode().hex()}")
        check_libc(libc_driver, f"u {base} x{text.encode().hex()}")
    check_libc(libc_driver, f"a x{text.encode().hex()}")


SHORT_STRINGS = st.text("ab\x80c", max_size=12).map(lambda s: s.encode("latin-1"))


@given(st.lists(st.tuples(SHORT_STRINGS, SHORT_STRINGS, st.integers(0, 40)), min_size=1, max_size=10))
def test_string_functions_match_glibc(libc_driver, cases):
    for a, b, n in cases:
        check_libc(libc_driver, f"S x{a.hex()} x{b.hex()} {n}")


@given(st.integers(1, 12).flatmap(lambda size: st.tuples(st.just(size), st.binary(max_size=40 * size))))
def test_qsort_sorts_like_glibc(libc_driver, case):
    size, data = case
    data = data[: len(data) // size * size] or b"\0" * size
    check_libc(libc_driver, f"q {size} x{data.hex()}")


# --- stdio and the program's life: what reaches the monitor, when ----------------------------------------------


def scenario(built: Built, *argv: str) -> tuple[int, list[tuple[str, ...]]]:
    """The run's events: ("write", fd, text), ("mark", n), ("exit", status) or the driver's own lines."""
    done = subprocess.run([str(built.drivers["stdio_driver"]), *argv], capture_output=True, text=True, timeout=10)
    events = []
    for line in done.stdout.splitlines():
        words = line.split(" ", 2)
        if words[0] == "write":
            events.append(("write", words[1], bytes.fromhex(words[2] if len(words) > 2 else "").decode()))
        else:
            events.append(tuple(line.split(" ", 1)))
    return done.returncode, events


def test_stdout_is_line_buffered_and_stderr_is_not(built):
    assert scenario(built, "buffering") == (
        3,
        [
            ("mark", "1"),
            ("write", "1", "ab1\n"),
            ("mark", "2"),
            ("write", "2", "err"),
            ("write", "2", "or!"),
            ("mark", "3"),
            ("write", "1", "line\n"),
            ("mark", "4"),
            ("write", "1", "x"),
            ("mark", "5"),
            ("write", "1", "z" * 1024),
            ("write", "1", "z" * 1024),
            ("fwrite", "3000"),
            ("mark", "6"),
            ("write", "1", "z" * 952),
            ("exit", "3"),
        ],
    )


def test_short_writes_are_retried(built):
    assert scenario(built, "partial") == (
        0,
        [
            ("write", "1", "abcdefg"),
            ("write", "1", "hijklmn"),
            ("write", "1", "opqrst\n"),
            ("printf", "21"),
            ("exit", "0"),
        ],
    )


def test_failed_writes_return_eof_and_output_goes_on(built):
    assert scenario(built, "failing") == (
        0,
        [
            ("printf", "-1"),
            ("fputc", "-1"),
            ("fflush", "0"),
            ("write", "1", "z\n"),
            ("printf", "2"),
            ("exit", "0"),
        ],
    )


def test_start_runs_init_main_atexit_fini_then_flushes(built):
    lines = [
        "init0 2 arg A=1\n",
        "init1\n",
        "main 2 prog HOME=/h\n",
        "getenv /h 1 none\n",
        "atexit2\n",
        "atexit1\n",
        "fini0\n",
        "fini1 ",
    ]
    assert scenario(built, "lifecycle") == (7, [*(("write", "1", line) for line in lines), ("exit", "7")])


def test_exit_from_an_atexit_handler_finishes_the_rest_once(built):
    lines = [
        "init0 2 arg A=1\n",
        "init1\n",
        "main 2 prog HOME=/h\n",
        "getenv /h 1 none\n",
        "exit again\n",
        "atexit1\n",
        "fini0\n",
        "fini1 ",
    ]
    assert scenario(built, "lifecycle", "nested") == (9, [*(("write", "1", line) for line in lines), ("exit", "9")])


def test_atexit_takes_32_handlers(built):
    assert scenario(built, "atexit_limit") == (0, [("registered", "32 failed 8"), ("exit", "0")])


def test_abort_flushes_and_exits_134(built):
    assert scenario(built, "abort") == (134, [("write", "1", "pending"), ("exit", "134")])


def test_underscore_exit_skips_the_flush(built):
    assert scenario(built, "_Exit") == (5, [("exit", "5")])
