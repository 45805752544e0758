"""Attacks on the file services (issue 12), each kept as a test: a hostile isolated library (guests/attacks/files)
against the program's files, a mount's limits and the monitor itself. Found by a review of the new system-call
layer; every one was reproduced before its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, guest

ATTACK = guest("fileattacks/fileattack")
READ, OVERWRITE, UNLINK, SEEK_FAR, SEEK_CUR, STAT, RENAME_AWAY, RENAME_OVER = range(8)
FD_BOUNDS, FD_EXHAUST, UMASK, CLOSE_STREAMS, LIST, RMDIR, LIST_INTO, CHDIR, PIPE_INTO = range(8, 17)
MINE = "mine: the program's own\n"
# The program's own descriptors, umask, current directory and the file in its directory, after the attack.
PROGRAM = "program dup 1 umask 22 cwd / secret 0\n"
PROGRAM_DATA = "0xc0000000"  # fileattack's data slot (slot 3): libfileevil's context does not map it


def attack(op: int, path: str, *extra: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "twzemu.cli", "run", "--timeout", "20", *options, str(ATTACK), str(op), path]
    return subprocess.run([*command, *extra], capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize("spelling", ["/mine.txt", "mine.txt", "//mine.txt", "/./mine.txt", "/x/../mine.txt"])
@pytest.mark.parametrize("op", [READ, OVERWRITE, UNLINK, STAT, RENAME_AWAY, RENAME_OVER])
def test_another_compartments_file_is_eacces_however_it_is_spelled(spelling: str, op: int) -> None:
    done = attack(op, spelling)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.endswith(f"evil {op} -> -13\nattack -13; {MINE}{PROGRAM}"), done.stdout


def test_a_library_claiming_anothers_soname_is_refused_at_link_time() -> None:
    """Compartments are named after sonames: a duplicate would share the victim's descriptors and files."""
    done = subprocess.run(
        [sys.executable, "-m", "twzemu.cli", "run", str(guest("fileattacks/impostor"))],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert "its soname 'libfilevictim.so' names compartment impostor::libfilevictim.so" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_unlink_cannot_follow_a_link_out_of_a_writable_mount(tmp_path: Path) -> None:
    mount, outside = tmp_path / "mnt", tmp_path / "outside"
    mount.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("outside\n")
    (mount / "out").symlink_to(outside)
    done = attack(UNLINK, "out/victim.txt", options=("--mount", f"{mount}:rw"))
    assert "evil 2 -> -13" in done.stdout and (outside / "victim.txt").exists()


@pytest.mark.parametrize("program_flags", [(), ("hold",), ("hold", "write")])
def test_a_mount_of_one_compartment_stays_its_alone(tmp_path: Path, program_flags: tuple[str, ...]) -> None:
    """Also while the program holds the file open, and after the program's own open was refused (EROFS)."""
    (tmp_path / "a.txt").write_text("for the program\n")
    done = attack(READ, "a.txt", *program_flags, options=("--mount", f"{tmp_path}:attack"))
    assert "evil 0 -> -13" in done.stdout, done.stdout
    written = attack(OVERWRITE, "a.txt", *program_flags, options=("--mount", f"{tmp_path}:rw:attack"))
    assert "evil 1 -> -13" in written.stdout and (tmp_path / "a.txt").read_text() == "for the program\n"


def test_the_innermost_mount_decides(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "a.txt").write_text("inner\n")
    options = ("--mount", str(tmp_path), "--mount", f"{inner}:attack")
    assert "evil 0 -> -13" in attack(READ, str(inner / "a.txt"), options=options).stdout


def test_offsets_beyond_a_file_are_einval_not_a_monitor_crash() -> None:
    far = attack(SEEK_FAR, "/big")
    assert (far.returncode, far.stderr) == (0, "")
    assert "evil seek -> -22, write -> 1\n" in far.stdout
    cur = attack(SEEK_CUR, "/seek")
    assert (cur.returncode, cur.stderr) == (0, "") and "evil 4 -> -22\n" in cur.stdout


def test_host_errors_under_a_mount_are_errno_values(tmp_path: Path) -> None:
    """A name too long, a loop of links, a fifo (reading it would block the monitor), a directory, a missing
    directory."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "sub").mkdir()
    for path, op, error in [
        ("B" * 300, READ, -36),  # ENAMETOOLONG
        ("loop", READ, -13),
        ("fifo", READ, -13),
        ("fifo", STAT, -13),
        ("sub", UNLINK, -21),
        ("nodir/x", OVERWRITE, -2),  # ENOENT at the open, as Linux (the bytes could never reach the host)
    ]:
        done = attack(op, path, options=("--mount", f"{tmp_path}:rw"))
        assert (done.returncode, done.stderr) == (0, ""), (path, done.stderr)
        assert f"evil {op} -> {error}\n" in done.stdout, (path, done.stdout)


def test_a_name_the_store_cannot_hold_leaves_no_object_behind(tmp_path: Path) -> None:
    store = tmp_path / "store"
    done = attack(OVERWRITE, "/with space", options=("--store", str(store)))
    assert "evil 1 -> -22\n" in done.stdout
    objects = [p for p in store.iterdir() if p.suffix == ".obj"] if store.exists() else []
    assert len(objects) == 3  # the program's /mine.txt, /pdir and /pdir/secret.txt; nothing for the refused name


def test_descriptors_out_of_range_are_ebadf_or_einval() -> None:
    done = attack(FD_BOUNDS, "/x")
    assert (done.returncode, done.stderr) == (0, "")
    assert "evil fds -9 -9 -22 -9\n" in done.stdout and done.stdout.endswith(f"attack 0; {MINE}{PROGRAM}")


def test_a_library_taking_every_descriptor_takes_only_its_own() -> None:
    done = attack(FD_EXHAUST, "/x")
    assert (done.returncode, done.stderr) == (0, "")
    assert "evil took 253 descriptors, then -24\n" in done.stdout  # 256 per compartment, 0-2 in use: EMFILE
    assert done.stdout.endswith(f"attack 253; {MINE}{PROGRAM}")  # the program still opens and dups


def test_umask_is_no_channel_between_compartments() -> None:
    done = attack(UMASK, "/x")
    assert done.stdout.endswith(f"evil 10 -> 18\nattack 18; {MINE}{PROGRAM}"), done.stdout  # 022, octal


def test_a_library_closing_its_standard_streams_closes_only_its_own() -> None:
    done = attack(CLOSE_STREAMS, "/x")
    assert (done.returncode, done.stderr) == (0, "")
    assert "evil 11" not in done.stdout  # its own report went to its closed stdout
    assert done.stdout.endswith(f"attack 0; {MINE}{PROGRAM}"), done.stdout


@pytest.mark.parametrize(
    ("path", "sees"),
    [("/", ". .. pdir tmp"), ("/pdir", ". .."), ("/tmp", ". ..")],
)
def test_a_directory_lists_only_the_files_the_reader_may_open(path: str, sees: str) -> None:
    """The program's /mine.txt and /pdir/secret.txt are not the library's to see (directories are shared names)."""
    done = attack(LIST, path)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"evil sees {sees}\nevil 12 -> 0\n" in done.stdout, done.stdout
    assert done.stdout.endswith(f"attack 0; {MINE}{PROGRAM}"), done.stdout


@pytest.mark.parametrize(("path", "error"), [("/pdir", -13), ("/", -16), ("/tmp", -16), ("/mine.txt", -20)])
def test_another_compartments_directory_cannot_be_removed(path: str, error: int) -> None:
    """EACCES before ENOTEMPTY: whether another's directory is empty is not told either."""
    done = attack(RMDIR, path)
    assert done.stdout.endswith(f"evil 13 -> {error}\nattack {error}; {MINE}{PROGRAM}"), done.stdout


@pytest.mark.parametrize("op", [LIST_INTO, PIPE_INTO])
def test_a_listing_or_pipe_into_another_compartments_memory_is_efault(op: int) -> None:
    done = attack(op, PROGRAM_DATA)
    assert done.stdout.endswith(f"evil {op} -> -14\nattack -14; {MINE}{PROGRAM}"), done.stdout


def test_a_current_directory_is_each_compartments_own() -> None:
    """The library moves into the program's directory and plants a file there (directories take anyone's files, as
    /tmp does); the program's current directory stays, and its file in that directory stays its own."""
    done = attack(CHDIR, "/pdir")
    assert done.stdout.endswith(f"evil 15 -> 0\nattack 0; {MINE}{PROGRAM}"), done.stdout
