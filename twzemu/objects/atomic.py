"""Crash-safe file replacement: a reader sees the old file or the new one, never a torn mix.

The recipe (POSIX ``rename(2)`` replaces atomically within one file system):

1. write the new content to a temporary file in the *same* directory (so the rename cannot cross devices);
2. flush and ``fsync`` it, so its data is on disk before its name is;
3. ``os.replace`` it over the target;
4. ``fsync`` the directory, so the rename itself survives a power loss.

A process killed before step 3 leaves only a stray ``.*.tmp`` file, which readers ignore; the target is
untouched. Every ``OSError`` becomes an ``ObjectError`` naming the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from twzemu.errors import ObjectError

TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace ``path`` with the concatenation of ``chunks``, atomically and durably."""
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as error:
        raise ObjectError(f"cannot write {path}: {error.strerror}") from error
    try:
        with os.fdopen(fd, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise ObjectError(f"cannot write {path}: {error.strerror}") from error
        raise
    fsync_dir(path.parent)


def atomic_remove(path: Path) -> None:
    """Delete ``path`` and make the deletion durable."""
    try:
        os.unlink(path)
    except OSError as error:
        raise ObjectError(f"cannot remove {path}: {error.strerror}") from error
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Persist the directory entry changes (creations, renames, deletions) in ``directory``."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise ObjectError(f"cannot open directory {directory}: {error.strerror}") from error
    try:
        os.fsync(fd)
    except OSError as error:
        raise ObjectError(f"cannot sync directory {directory}: {error.strerror}") from error
    finally:
        os.close(fd)
