"""The crossing engine's build: compiled once per source version, with one clear line when it cannot be."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from twzemu.errors import MachineError
from twzemu.machine import fastpath


def test_the_engine_is_built_once_per_source_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "_cache_dirs", lambda: [tmp_path])
    source = tmp_path / "engine.c"
    source.write_text(fastpath.SOURCE.read_text())
    first = fastpath.build(source)
    assert first.parent == tmp_path and first.stat().st_size > 0
    stamp = first.stat().st_mtime_ns
    assert fastpath.build(source) == first and first.stat().st_mtime_ns == stamp  # not rebuilt
    source.write_text(fastpath.SOURCE.read_text() + "\n/* another version */\n")
    second = fastpath.build(source)
    assert second != first and list(tmp_path.glob("*.so")) == [second]  # the older version is gone


def test_a_source_that_does_not_compile_is_named_with_the_compiler_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastpath, "_cache_dirs", lambda: [tmp_path])
    source = tmp_path / "broken.c"
    source.write_text("int f(void) { return undeclared; }\n")
    with pytest.raises(MachineError, match=r"building .*broken\.c with .* failed: .*undeclared"):
        fastpath.build(source)
    assert list(tmp_path.glob("*.so")) == []  # nothing half-written is left to be loaded later


def test_a_missing_compiler_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "_cache_dirs", lambda: [tmp_path])
    monkeypatch.setenv("CC", "no-such-compiler")
    source = tmp_path / "engine.c"
    source.write_text(fastpath.SOURCE.read_text())
    with pytest.raises(MachineError, match=r"needs a C compiler \(no-such-compiler, from \$CC\)"):
        fastpath.build(source)


def test_the_python_mirrors_match_the_c_structures_field_by_field() -> None:
    lib = fastpath.load()  # load() itself refuses a mismatch; this says which field would be wrong
    for what, (c_name, mirror) in fastpath._MIRRORS.items():
        assert lib.twz_sizeof(what) == ctypes.sizeof(mirror), c_name
    reported = {}
    for i in range(lib.twz_num_fields()):
        field = lib.twz_field(i).contents
        reported[field.name.decode()] = (field.offset, field.size)
    for c_name, mirror in fastpath._MIRRORS.values():
        for name, _ in mirror._fields_:
            descriptor = getattr(mirror, name)
            assert reported.pop(f"{c_name}.{name}") == (descriptor.offset, descriptor.size), f"{c_name}.{name}"
    assert reported == {}  # no C field without its mirror
