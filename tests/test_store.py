"""The object store (in memory and on disk), its crash safety, and ``twzemu store`` through ``run_store``."""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import twzemu
from twzemu.cli.store import add_store_parser, run_store
from twzemu.errors import ObjectError, UsageError
from twzemu.objects import DATA_OFFSET, PAGE_SIZE, Lifetime, Object, ObjectStore, ObjId, Prot, store_from_env
from twzemu.objects.atomic import TEMP_SUFFIX
from twzemu.objects.objfile import decode, encode
from twzemu.objects.store import NAMES_FILE, STORE_ENV


def _object(id: int, fill: int, pages: int, lifetime: Lifetime = Lifetime.PERSISTENT) -> Object:
    obj = Object(ObjId(id), lifetime)
    obj.write(DATA_OFFSET, bytes([fill]) * (pages * PAGE_SIZE))
    obj.add_fot_entry(ObjId(0xF00 + id))
    return obj


def _object_file(store_dir: Path, id: ObjId) -> Path:
    return store_dir / f"{id}.obj"


# --- in memory ----------------------------------------------------------------------------------------------


def test_in_memory_create_get_put_remove() -> None:
    store = ObjectStore.in_memory()
    obj = store.create()
    assert obj.lifetime is Lifetime.VOLATILE
    assert obj.meta.default_prot == Prot.READ | Prot.WRITE and obj.meta.nonce != 0
    assert store.get(obj.id) is obj and obj.id in store
    other = Object(ObjId(5))
    store.put(other)
    assert list(store.iter_ids()) == sorted([obj.id, ObjId(5)])
    store.remove(ObjId(5))
    assert ObjId(5) not in store and list(store.iter_ids()) == [obj.id]
    assert "not an id" not in store


def test_in_memory_missing_object_errors_name_the_id() -> None:
    store = ObjectStore.in_memory()
    missing = ObjId(0x1234)
    with pytest.raises(ObjectError, match=str(missing)):
        store.get(missing)
    with pytest.raises(ObjectError, match=str(missing)):
        store.remove(missing)
    store.create(id=missing)
    with pytest.raises(ObjectError, match=f"{missing} already exists"):
        store.create(id=missing)


def test_names_bind_lookup_unbind() -> None:
    store = ObjectStore.in_memory()
    a, b = store.create(), store.create()
    store.bind("libc.so", a.id)
    store.bind("libm.so", a.id)
    store.bind("prog", b.id)
    assert store.lookup("libc.so") == a.id
    assert store.names() == {"libc.so": a.id, "libm.so": a.id, "prog": b.id}
    assert store.names_of(a.id) == ["libc.so", "libm.so"]
    store.bind("prog", a.id)  # rebinding replaces
    assert store.lookup("prog") == a.id
    store.unbind("libm.so")
    with pytest.raises(ObjectError, match=re.escape("'libm.so'")):
        store.lookup("libm.so")
    with pytest.raises(ObjectError, match=re.escape("'libm.so'")):
        store.unbind("libm.so")
    store.remove(a.id)  # removing an object unbinds its names
    assert store.names() == {}


@pytest.mark.parametrize("name", ["", "two words", "tab\there", "0x1f", "ObjID(5)", "x" * 256, "nl\n"])
def test_bad_names_are_refused(name: str) -> None:
    store = ObjectStore.in_memory()
    obj = store.create()
    with pytest.raises(ObjectError, match="bad object name"):
        store.bind(name, obj.id)


def test_binding_a_missing_object_is_an_error() -> None:
    with pytest.raises(ObjectError, match=r"'lib'.*0x0+99"):
        ObjectStore.in_memory().bind("lib", ObjId(0x99))


def test_store_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert store_from_env(None).path is None
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "env"))
    assert store_from_env(None).path == tmp_path / "env"
    assert store_from_env(str(tmp_path / "arg")).path == tmp_path / "arg"


# --- on disk ------------------------------------------------------------------------------------------------


def test_on_disk_round_trip_keeps_persistent_objects_only(tmp_path: Path) -> None:
    store = ObjectStore.on_disk(tmp_path / "store")
    assert list(store.iter_ids()) == [] and not (tmp_path / "store").exists()  # no I/O until needed
    kept = _object(1, 0xAB, pages=3)
    gone = _object(2, 0xCD, pages=1, lifetime=Lifetime.VOLATILE)
    store.put(kept)
    store.put(gone)
    store.bind("kept", kept.id)
    store.bind("gone", gone.id)
    assert set(store.iter_ids()) == {kept.id, gone.id}

    reopened = ObjectStore.on_disk(tmp_path / "store")
    assert list(reopened.iter_ids()) == [kept.id]
    assert reopened.get(kept.id) == kept
    assert reopened.get(kept.id).fot_entry(1).id == ObjId(0xF01)
    assert reopened.names() == {"kept": kept.id}
    assert gone.id not in reopened
    with pytest.raises(ObjectError, match=str(gone.id)):
        reopened.get(gone.id)


def test_on_disk_remove_deletes_file_and_names(tmp_path: Path) -> None:
    store = ObjectStore.on_disk(tmp_path)
    obj = _object(1, 1, pages=1)
    store.put(obj)
    store.bind("one", obj.id)
    store.remove(obj.id)
    assert not _object_file(tmp_path, obj.id).exists()
    reopened = ObjectStore.on_disk(tmp_path)
    assert list(reopened.iter_ids()) == [] and reopened.names() == {}


def _corrupt(data: bytes, how: str) -> bytes:
    changes = {
        "truncated": data[:-1],
        "padded": data + b"\0",
        "flipped": data[:100] + bytes([data[100] ^ 0x40]) + data[101:],
        "magic": b"NOTANOBJ" + data[8:],
        "empty": b"",
    }
    return changes[how]


@pytest.mark.parametrize("how", ["truncated", "padded", "flipped", "magic", "empty"])
def test_damaged_object_file_is_an_error_naming_the_file(tmp_path: Path, how: str) -> None:
    obj = _object(1, 7, pages=2)
    ObjectStore.on_disk(tmp_path).put(obj)
    path = _object_file(tmp_path, obj.id)
    path.write_bytes(_corrupt(path.read_bytes(), how))
    with pytest.raises(ObjectError, match=re.escape(f"damaged object file {path}")):
        ObjectStore.on_disk(tmp_path).get(obj.id)


def test_object_file_under_another_ids_name_is_damaged(tmp_path: Path) -> None:
    obj = _object(1, 7, pages=1)
    ObjectStore.on_disk(tmp_path).put(obj)
    impostor = _object_file(tmp_path, ObjId(2))
    _object_file(tmp_path, obj.id).rename(impostor)
    with pytest.raises(ObjectError, match=re.escape(f"{impostor}: it holds object {obj.id}")):
        ObjectStore.on_disk(tmp_path).get(ObjId(2))


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"format": "twzemu-names"}', b"\xff"])
def test_damaged_names_file_is_an_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / NAMES_FILE).write_bytes(content)
    with pytest.raises(ObjectError, match=re.escape(f"damaged names file {tmp_path / NAMES_FILE}")):
        ObjectStore.on_disk(tmp_path).lookup("x")


_SMALL = b"".join(encode(_object(3, 0x5A, pages=1)))


@given(st.integers(0, len(_SMALL) - 1), st.integers(1, 255))
def test_any_changed_byte_in_an_object_file_is_detected(position: int, xor: int) -> None:
    damaged = bytearray(_SMALL)
    damaged[position] ^= xor
    with pytest.raises(ObjectError, match=re.escape("damaged object file f.obj")):
        decode(bytes(damaged), "f.obj")


@given(st.integers(0, len(_SMALL) - 1))
def test_any_truncation_of_an_object_file_is_detected(length: int) -> None:
    with pytest.raises(ObjectError, match=re.escape("damaged object file f.obj")):
        decode(_SMALL[:length], "f.obj")


# --- crash safety -------------------------------------------------------------------------------------------

# Rewrites every object (and the name "flip") back and forth between two versions until killed.
_WRITER = """
import sys
from pathlib import Path
from twzemu.objects import ObjectStore
from twzemu.objects.objfile import decode

store = ObjectStore.on_disk(sys.argv[1])
files = sorted(Path(sys.argv[2]).iterdir())
versions = [decode(f.read_bytes(), str(f)) for f in files]
print("ready", flush=True)
turn = 1
while True:
    for obj in versions[turn::2]:
        store.put(obj)
    store.bind("flip", versions[turn].id)
    turn ^= 1
"""


def _child_env() -> dict[str, str]:
    root = str(Path(twzemu.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def test_writer_killed_at_random_moments_leaves_every_file_old_or_new(tmp_path: Path) -> None:
    """SIGKILL a process rewriting objects: every object file must still parse, as its old or new version."""
    store_dir, versions_dir = tmp_path / "store", tmp_path / "versions"
    versions_dir.mkdir()
    store = ObjectStore.on_disk(store_dir)
    # Object k: version 0 (old, written first) has 40 pages of one byte; version 1 has 24 pages of another.
    pairs = [(_object(k, 0x10 + k, pages=40), _object(k, 0x80 + k, pages=24)) for k in (1, 2, 3)]
    for k, (old, new) in enumerate(pairs):
        store.put(old)
        (versions_dir / f"{k}-0").write_bytes(b"".join(encode(old)))
        (versions_dir / f"{k}-1").write_bytes(b"".join(encode(new)))
    store.bind("flip", pairs[0][0].id)
    flip_targets = {pairs[0][0].id, pairs[0][1].id}  # versions[0] and versions[1] share object 1's id

    rng = random.Random(0x7A17)
    kills = 0
    strays: set[str] = set()  # temp files left by kills that landed inside a write
    deadline = time.monotonic() + 4.0
    while kills < 30 and time.monotonic() < deadline:
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store_dir), str(versions_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
        )
        assert child.stdout is not None and child.stdout.readline() == b"ready\n", child.communicate()
        time.sleep(rng.uniform(0, 0.015))
        child.kill()  # SIGKILL: no handler, no cleanup
        child.communicate()
        kills += 1
        strays |= {entry.name for entry in store_dir.iterdir() if entry.name.endswith(TEMP_SUFFIX)}
        reopened = ObjectStore.on_disk(store_dir)
        assert sorted(reopened.iter_ids()) == [old.id for old, _ in pairs]
        for old, new in pairs:
            assert reopened.get(old.id) in (old, new)
        assert reopened.lookup("flip") in flip_targets
    assert kills >= 10
    assert strays, "no kill landed inside a write: the test proved nothing"


# --- twzemu store -------------------------------------------------------------------------------------------


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="twzemu")
    add_store_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["store", *argv])
    assert args.func is run_store
    return args.func(args)


@pytest.fixture
def no_env_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)


@pytest.mark.usefixtures("no_env_store")
def test_cli_put_ls_rm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_dir, lib, prog = tmp_path / "store", tmp_path / "libfoo.so", tmp_path / "prog"
    lib.write_bytes(b"\x7fELF library")
    prog.write_bytes(b"program")
    assert _run("--store", str(store_dir), "put", str(lib), "--name", "libfoo.so") == 0
    lib_id = ObjId.parse(capsys.readouterr().out.strip())
    assert _run("put", str(prog), "--store", str(store_dir)) == 0
    prog_id = ObjId.parse(capsys.readouterr().out.strip())

    stored = ObjectStore.on_disk(store_dir).get(lib_id)
    assert stored.lifetime is Lifetime.PERSISTENT
    assert stored.read(DATA_OFFSET, len(b"\x7fELF library")) == b"\x7fELF library"

    assert _run("--store", str(store_dir), "ls") == 0
    lines = sorted(capsys.readouterr().out.splitlines())
    assert lines == sorted([f"{lib_id} persistent 12 libfoo.so", f"{prog_id} persistent 7 -"])

    assert _run("--store", str(store_dir), "rm", "libfoo.so") == 0
    assert _run("--store", str(store_dir), "rm", str(prog_id)) == 0
    assert _run("--store", str(store_dir), "ls") == 0
    assert capsys.readouterr().out == ""
    assert sorted(entry.name for entry in store_dir.iterdir()) == [NAMES_FILE]


def test_cli_uses_twzemu_store_and_prefers_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x")
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "env"))
    _run("put", str(data))
    _run("--store", str(tmp_path / "opt"), "put", str(data))
    env_id, opt_id = (ObjId.parse(line) for line in capsys.readouterr().out.split())
    assert list(ObjectStore.on_disk(tmp_path / "env").iter_ids()) == [env_id]
    assert list(ObjectStore.on_disk(tmp_path / "opt").iter_ids()) == [opt_id]


@pytest.mark.usefixtures("no_env_store")
def test_cli_without_a_store_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as raised:
        _run("ls")
    assert str(raised.value) == "store: no store named: use --store DIR or set TWZEMU_STORE"
    assert raised.value.exit_status == 2


@pytest.mark.usefixtures("no_env_store")
def test_cli_errors_name_the_culprit(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with pytest.raises(ObjectError, match=re.escape(str(tmp_path / "missing"))):
        _run("--store", store, "put", str(tmp_path / "missing"))
    with pytest.raises(ObjectError, match="'nosuch'"):
        _run("--store", store, "rm", "nosuch")
    with pytest.raises(ObjectError, match=r"0x0+42"):
        _run("--store", store, "rm", "0x42")
    data = tmp_path / "data"
    data.write_bytes(b"x")
    with pytest.raises(ObjectError, match="bad object name"):
        _run("--store", store, "put", str(data), "--name", "0x1")
    assert list(ObjectStore.on_disk(store).iter_ids()) == []  # a refused name leaves no orphan object
