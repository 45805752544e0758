"""The file service itself (twzemu/monitor/files.py), driven directly: what a second review of its new calls
found, each kept as a test (the guest-level attacks are tests/test_file_attacks.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from twzemu.monitor import files as files_module
from twzemu.monitor.files import (
    EBUSY,
    EFBIG,
    ENOSPC,
    MAX_FILE_SIZE,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    Files,
    Mount,
)
from twzemu.objects.store import ObjectStore

PROGRAM, EVIL = "prog", "prog::libevil.so"


def _files(*mounts: str) -> Files:
    return Files(ObjectStore.in_memory(), tuple(Mount.parse(text) for text in mounts))


def _write(files: Files, compartment: str, path: str, data: bytes) -> int:
    fd = files.open(compartment, path, O_WRONLY | O_CREAT)
    description = files.description(compartment, fd)
    assert description is not None
    files.write(description, data)
    return fd


def test_renaming_the_directory_of_a_mount_within_a_mount_is_ebusy(tmp_path: Path) -> None:
    """A private inner mount stays private: moving the outer directory that holds it would take its files out of
    it (then read and written as the outer mount's)."""
    inner = tmp_path / "sub" / "priv"
    inner.mkdir(parents=True)
    (inner / "secret.txt").write_text("secret\n")
    files = _files(f"{tmp_path}:rw", f"{inner}:rw:{PROGRAM}")
    assert files.open(EVIL, str(inner / "secret.txt"), O_RDONLY) == -13
    assert files.rename(EVIL, str(tmp_path / "sub"), str(tmp_path / "moved")) == -EBUSY
    assert files.rename(EVIL, str(inner), str(tmp_path / "moved")) == -18  # EXDEV: across two mounts
    assert (inner / "secret.txt").read_text() == "secret\n"


def test_a_link_into_a_mount_within_a_mount_is_refused(tmp_path: Path) -> None:
    inner = tmp_path / "priv"
    inner.mkdir()
    (inner / "secret.txt").write_text("secret\n")
    (tmp_path / "shortcut").symlink_to(inner)
    files = _files(f"{tmp_path}:rw", f"{inner}:{PROGRAM}")
    assert files.open(EVIL, str(tmp_path / "shortcut/secret.txt"), O_RDONLY) == -13
    assert files.open(PROGRAM, str(tmp_path / "shortcut/secret.txt"), O_RDONLY) == -13  # by its own path only
    assert files.open(PROGRAM, str(inner / "secret.txt"), O_RDONLY) >= 0


def test_a_file_whose_directory_was_moved_out_of_the_mount_is_not_saved_there(tmp_path: Path) -> None:
    """The bytes go back only where the path still lies in the mount, checked again at close (a link moved since
    the open leads out)."""
    mount = tmp_path / "mnt"
    (mount / "a").mkdir(parents=True)
    (mount / "d").mkdir()
    (mount / "a" / "up").symlink_to("..")
    files = _files(f"{mount}:rw")
    fd = _write(files, EVIL, str(mount / "d" / "ESCAPED"), b"outside")
    (mount / "d").rename(mount / "d2")
    (mount / "a" / "up").rename(mount / "d")  # d -> .. from the mount's top: the mount's parent
    assert files.close(EVIL, fd) == -13
    assert not (tmp_path / "ESCAPED").exists()


def test_a_listing_rewound_after_its_directory_moved_does_not_list_outside(tmp_path: Path) -> None:
    mount = tmp_path / "mnt"
    (mount / "d").mkdir(parents=True)
    (tmp_path / "host-secret.txt").write_text("x")
    files = _files(f"{mount}:rw")
    fd = files.open(EVIL, str(mount / "d"), O_RDONLY)
    listing = files.entry(EVIL, fd)
    (mount / "d").rename(mount / "d2")
    (mount / "d").symlink_to("..")
    files.rewind(listing, EVIL, 0)  # type: ignore[arg-type]
    assert "host-secret.txt" not in [name for name, _ in listing.entries]  # type: ignore[union-attr]


def test_a_file_no_larger_than_its_object_and_one_too_large_spoils_no_other_save() -> None:
    files = _files()
    fd = files.open(EVIL, "/tmp/big", O_RDWR | O_CREAT)
    big = files.description(EVIL, fd)
    assert big is not None
    assert files.truncate(big, MAX_FILE_SIZE + 1) == -EFBIG
    assert files.seek(big, MAX_FILE_SIZE, 0) == MAX_FILE_SIZE and files.write(big, b"x") == -EFBIG
    _write(files, PROGRAM, "/tmp/victim.txt", b"victim-data")
    files.close_all()
    fd = files.open(PROGRAM, "/tmp/victim.txt", O_RDONLY)
    victim = files.description(PROGRAM, fd)
    assert victim is not None and files.read(victim, 64) == b"victim-data"


def test_the_runs_open_files_hold_at_most_the_budget_in_host_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files_module, "FILES_BUDGET", 1 << 20)
    files = _files()
    first = files.description(EVIL, files.open(EVIL, "/tmp/a", O_RDWR | O_CREAT))
    second = files.description(EVIL, files.open(EVIL, "/tmp/b", O_RDWR | O_CREAT))
    assert first is not None and second is not None
    assert files.truncate(first, 700 << 10) == 0
    assert files.truncate(second, 700 << 10) == -ENOSPC
    assert files.seek(second, 400 << 10, 0) and files.write(second, b"x") == -ENOSPC
    assert files.write(second, b"") == 0
    files.close(EVIL, 3)  # the first file's bytes go back to its object: room again
    assert files.truncate(second, 700 << 10) == 0


def test_a_name_that_is_not_utf8_comes_back_as_its_bytes(tmp_path: Path) -> None:
    files = _files(f"{tmp_path}:rw")
    name = os.fsdecode(b"\xff")
    assert files.make_directory(EVIL, name) == 0 and files.change_directory(EVIL, name) == 0
    assert os.fsencode(files.cwd(EVIL)) == os.fsencode(str(tmp_path)) + b"/\xff"


def test_renaming_an_open_file_to_itself_loses_nothing() -> None:
    files = _files()
    fd = _write(files, PROGRAM, "/tmp/f", b"before")
    assert files.rename(PROGRAM, "/tmp/f", "/tmp/f") == 0
    description = files.description(PROGRAM, fd)
    assert description is not None and files.write(description, b"-after") == 6
    files.close(PROGRAM, fd)
    again = files.description(PROGRAM, files.open(PROGRAM, "/tmp/f", O_RDONLY))
    assert again is not None and files.read(again, 64) == b"before-after"


def test_another_compartments_file_or_directory_keeps_its_times() -> None:
    files = _files()
    files.close(PROGRAM, _write(files, PROGRAM, "/tmp/mine.txt", b"x"))
    assert files.make_directory(PROGRAM, "/pdir") == 0
    before = files.status(PROGRAM, "/tmp/mine.txt")
    assert files.set_times(EVIL, "/tmp/mine.txt", None, 0) == -13
    assert files.set_times(EVIL, "/pdir", None, 0) == -1
    assert files.set_times(EVIL, "/tmp", None, 0) == -1
    assert files.status(PROGRAM, "/tmp/mine.txt") == before
    assert files.set_times(PROGRAM, "/tmp/mine.txt", None, 5) == 0
    status = files.status(PROGRAM, "/tmp/mine.txt")
    assert not isinstance(status, int) and status.modified_ns == 5


def test_a_directory_holding_anothers_file_cannot_be_renamed() -> None:
    """Directories take anyone's files (as /tmp does): renaming one would move the files of the others in it."""
    files = _files()
    assert files.make_directory(EVIL, "/shared") == 0
    files.close(PROGRAM, _write(files, PROGRAM, "/shared/mine.txt", b"x"))
    assert files.rename(EVIL, "/shared", "/moved") == -13
    assert files.rename(PROGRAM, "/shared", "/moved") == -13  # not the program's directory either
    assert files.rename(EVIL, "/tmp", "/elsewhere") == -16
    assert files.status(PROGRAM, "/shared/mine.txt") != -2
    files.unlink(PROGRAM, "/shared/mine.txt")
    assert files.rename(EVIL, "/shared", "/moved") == 0 and files.status(EVIL, "/moved") != -2


def test_another_compartments_directory_keeps_its_name_mode_and_place() -> None:
    """A library renaming the program's directory, renaming its own over the program's empty one, or changing
    the mode of the program's directory or file: refused, and the program's directory stays as it made it."""
    files = _files()
    assert files.make_directory(PROGRAM, "/pdir", 0o700) == 0
    assert files.make_directory(PROGRAM, "/pempty") == 0
    files.close(PROGRAM, _write(files, PROGRAM, "/pdir/mine.txt", b"x"))
    assert files.make_directory(EVIL, "/edir") == 0
    assert files.rename(EVIL, "/pdir", "/stolen") == -13
    assert files.rename(EVIL, "/edir", "/pempty") == -13  # an empty directory gives way only to its creator
    assert files.change_mode(EVIL, "/pdir", 0o777) == -1
    assert files.change_mode(EVIL, "/pdir/mine.txt", 0o777) == -13
    assert files.change_mode(EVIL, "/tmp", 0o700) == -1
    status, empty = files.status(PROGRAM, "/pdir"), files.status(PROGRAM, "/pempty")
    assert not isinstance(status, int) and status.mode & 0o777 == 0o700
    assert not isinstance(empty, int) and files.status(PROGRAM, "/stolen") == -2


def test_a_path_ending_in_a_slash_names_a_directory_as_on_linux() -> None:
    """A red team's find: `open("/tmp/x/", O_CREAT)` made the file /tmp/x (Linux: EISDIR)."""
    from twzemu.monitor.files import EISDIR, ENOENT, ENOTDIR

    files = _files()
    assert files.open(PROGRAM, "/tmp/x/", O_WRONLY | O_CREAT) == -EISDIR
    assert files.open(PROGRAM, "/tmp/x/", O_RDONLY) == -ENOENT
    _write(files, PROGRAM, "/tmp/y", b"y")
    assert files.open(PROGRAM, "/tmp/y/", O_RDONLY) == -ENOTDIR
    assert files.open(PROGRAM, "/tmp/y/", O_WRONLY | O_CREAT) == -EISDIR
    assert files.open(PROGRAM, "/tmp/", O_RDONLY) >= 0
    assert files.open(PROGRAM, "/tmp/x", O_RDONLY) == -ENOENT  # nothing was made
