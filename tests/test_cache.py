"""The derived-data cache (``twzemu.cache``): what a run derives from a file is read back on the next run, a changed
file is never served stale, a damaged entry is derived again and rewritten, and a repeated ``twzemu run`` needs
neither capstone, pyelftools nor keystone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cc, guest, twzemu
from hypothesis import given
from hypothesis import strategies as st

from twzemu import cache, sdk
from twzemu.cache import FORMAT, DerivedCache, Entry, json_int
from twzemu.elf.callsites import return_sites
from twzemu.elf.gates import read_gate_records
from twzemu.elf.image import ElfImage
from twzemu.elf.parameters import parameter_counts


class Counter:
    """A derivation that counts how often it ran."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.value


def _get(entry: Entry, derive: Counter, field: str = "answer") -> int:
    return entry.get(field, derive, lambda value: value, json_int)


def _entry_files(directory) -> list:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def test_a_field_is_derived_once_and_read_back_by_the_next_run(tmp_path):
    derive = Counter(42)
    assert _get(DerivedCache(tmp_path).entry("kind", b"content"), derive) == 42
    assert _get(DerivedCache(tmp_path).entry("kind", b"content"), derive) == 42  # a new process reads the file
    assert derive.calls == 1
    assert [path.parent.relative_to(tmp_path).as_posix() for path in _entry_files(tmp_path)] == [
        f"derived-{FORMAT}/kind"
    ]


def test_other_content_other_code_or_another_kind_is_another_entry(tmp_path):
    derive = Counter(1)
    code = tmp_path / "deriver.py"
    code.write_text("version = 1\n")
    _get(DerivedCache(tmp_path).entry("kind", b"content", [code]), derive)
    _get(DerivedCache(tmp_path).entry("kind", b"content!", [code]), derive)
    _get(DerivedCache(tmp_path).entry("other", b"content", [code]), derive)
    assert derive.calls == 3
    code.write_text("version = 2\n")
    cache._fingerprint.cache_clear()  # as a new process would, after the code changed
    _get(DerivedCache(tmp_path).entry("kind", b"content", [code]), derive)
    assert derive.calls == 4


DAMAGE = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: bytes(range(256)),
    "flipped": lambda data: data[:-2] + bytes([data[-2] ^ 1]) + data[-1:],
    "no header": lambda data: data.partition(b"\n")[2],
    "another key": lambda data: data.replace(data.split(b" ")[2], b"0" * len(data.split(b" ")[2]), 1),
    "another format": lambda data: data.replace(f" {FORMAT} ".encode(), f" {FORMAT + 1} ".encode(), 1),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_derived_again_and_rewritten(tmp_path, damage):
    _get(DerivedCache(tmp_path).entry("kind", b"content"), Counter(7))
    (path,) = _entry_files(tmp_path)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    derive = Counter(7)
    assert _get(DerivedCache(tmp_path).entry("kind", b"content"), derive) == 7
    assert derive.calls == 1
    again = Counter(7)
    assert _get(DerivedCache(tmp_path).entry("kind", b"content"), again) == 7
    assert again.calls == 0  # rewritten whole


def test_a_stored_value_its_decoder_refuses_is_derived_again(tmp_path):
    entry = DerivedCache(tmp_path).entry("kind", b"content")
    entry.get("answer", lambda: "not a number", lambda value: value, lambda value: value)  # stored by another decoder
    derive = Counter(5)
    assert _get(DerivedCache(tmp_path).entry("kind", b"content"), derive) == 5
    assert derive.calls == 1


@given(st.binary(max_size=300), st.integers(0, 400))
def test_any_bytes_in_an_entry_file_are_read_or_refused_never_a_crash(tmp_path_factory, junk, at):
    directory = tmp_path_factory.mktemp("cache")
    _get(DerivedCache(directory).entry("kind", b"content"), Counter(3))
    (path,) = _entry_files(directory)
    data = path.read_bytes()
    path.write_bytes(data[:at] + junk + data[at + len(junk) :])
    assert _get(DerivedCache(directory).entry("kind", b"content"), Counter(3)) == 3


def test_an_unwritable_cache_is_only_slower(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be\n")
    derive = Counter(9)
    for _ in range(2):
        assert _get(DerivedCache(blocker / "cache").entry("kind", b"content"), derive) == 9
    assert derive.calls == 2


def test_the_cache_lives_in_an_existing_store_else_in_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert DerivedCache.beside(None).directory == tmp_path / "xdg" / "twzemu"
    assert DerivedCache.beside(tmp_path / "no store yet").directory == tmp_path / "xdg" / "twzemu"
    assert DerivedCache.beside(tmp_path).directory == tmp_path / "cache"


# What an image file yields, through the cache --------------------------------------------------------------

LIBRARIES = {
    "one": "#include <twz.h>\nlong alpha(long a, long b) { return a + b; }\nTWZ_GATE(alpha);\n",
    "two": "#include <twz.h>\nlong helper(long a);\nlong beta(long a) { return helper(a) + 1; }\n"
    "long helper(long a) { return a * 2; }\nlong gamma(void) { return beta(1); }\n"
    "TWZ_GATE_LEVEL(beta, TWZ_ISOLATE_CALLEE);\nTWZ_GATE(gamma);\n",
}


def _facts(path, derived: DerivedCache | None) -> tuple:
    image = ElfImage.open(path, derived)
    gates = read_gate_records(image)
    return (
        gates,
        parameter_counts(image, [gate.name for gate in gates]),
        return_sites(image, 0x4000_0000),
        image.symbols,
        image.section_count,
    )


def test_a_changed_file_at_the_same_path_is_never_served_stale(tmp_path):
    for name, source in LIBRARIES.items():
        (tmp_path / f"{name}.c").write_text(source)
        cc("-g", "-shared", "-o", f"lib{name}.so", f"{name}.c", cwd=tmp_path)
    reference = {name: _facts(tmp_path / f"lib{name}.so", None) for name in LIBRARIES}
    assert reference["one"] != reference["two"]
    derived = DerivedCache(tmp_path / "cache")
    place = tmp_path / "libsame.so"
    for name in ("one", "two", "one", "two"):  # the second round reads every fact from the cache
        shutil.copyfile(tmp_path / f"lib{name}.so", place)
        assert _facts(place, derived) == reference[name]


# The whole process ----------------------------------------------------------------------------------------

PROBE = (
    "import sys\n"
    "from twzemu.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "loaded = sorted({name.split('.')[0] for name in sys.modules} & {'capstone', 'elftools', 'keystone'})\n"
    "print('status', status, 'loaded', ' '.join(loaded) or '-', file=sys.stderr)\n"
)


def _cache_home(path: Path) -> Path:
    """A new user cache directory holding nothing derived, with the built guest runtime linked in."""
    if not (path / "twzemu").exists():
        sdk.share_built(path / "twzemu")
    return path


def _probe(*args: str, cache_home) -> tuple[str, str]:
    """Run the CLI's main in a fresh interpreter; its stdout, and what it reported on stderr (last line)."""
    _cache_home(cache_home)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
    )
    return done.stdout, done.stderr.splitlines()[-1]


def test_a_repeated_run_imports_neither_capstone_nor_pyelftools_nor_keystone(tmp_path):
    hello = str(guest("hello"))
    _probe("run", hello, cache_home=tmp_path)
    assert _probe("run", hello, cache_home=tmp_path) == ("hello\n", "status 0 loaded -")


def test_with_a_store_the_cache_is_kept_in_it_and_is_no_object_or_name(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    hello = str(guest("hello"))
    _probe("run", "--store", str(store), hello, cache_home=tmp_path / "xdg")
    assert _probe("run", "--store", str(store), hello, cache_home=tmp_path / "xdg") == ("hello\n", "status 0 loaded -")
    assert (store / "cache").is_dir() and not (tmp_path / "xdg" / "twzemu" / f"derived-{FORMAT}" / "elf").exists()
    listed = twzemu("store", "--store", str(store), "ls")
    assert (listed.status, listed.stdout) == (0, "")


def _run(program: str, cache_home) -> tuple[int, str, str]:
    done = twzemu("run", program, env={"XDG_CACHE_HOME": str(_cache_home(cache_home))})
    return done.status, done.stdout, done.stderr


def test_a_program_replaced_at_the_same_path_is_reported_by_its_own_symbols(tmp_path):
    """Fault reports name symbols of the file that runs (its symbols are cached): two programs take turns at one
    path, and each run reads exactly as it does with nothing cached."""
    programs = ("faults/write_text", "faults/null_read", "hello")
    reference = {}
    for program in programs:
        (tmp_path / program).mkdir(parents=True)
        shutil.copyfile(guest(program), tmp_path / program / "prog")
        (tmp_path / program / "prog").chmod(0o755)
        reference[program] = _run(str(tmp_path / program / "prog"), tmp_path / f"fresh-{program.replace('/', '-')}")
    place = tmp_path / "prog"
    for program in (*programs, *programs):
        shutil.copyfile(tmp_path / program / "prog", place)
        assert _run(str(place), tmp_path / "shared") == reference[program]


def test_a_damaged_cache_is_rebuilt_and_the_run_is_unchanged(tmp_path):
    hello = str(guest("hello"))
    first = _run(hello, tmp_path)
    entries = _entry_files(tmp_path / "twzemu")
    assert entries
    for index, path in enumerate(entries):
        damage = DAMAGE[sorted(DAMAGE)[index % len(DAMAGE)]]
        path.write_bytes(damage(path.read_bytes()))
    assert _run(hello, tmp_path) == first
    for path in _entry_files(tmp_path / "twzemu"):  # every entry rewritten whole: a third run derives nothing
        magic, version, key, _ = path.read_bytes().partition(b"\n")[0].decode().split(" ")
        assert (magic, version, key) == ("twzemu-derived", str(FORMAT), path.name)
    assert _probe("run", hello, cache_home=tmp_path) == ("hello\n", "status 0 loaded -")
