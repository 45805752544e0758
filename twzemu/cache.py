"""Derived data kept on disk, keyed by what it was derived from, so a repeated run does not derive it again.

Starting a run used to cost more in imports than in running (DESIGN.md "Performance budgets": the whole process
``twzemu run hello`` ≤ 0.17 s): every image's return sites took capstone, its gate records, symbols and DWARF
took pyelftools, the monitor's gate code took keystone. Each of those is a pure function of some bytes — a
file's content, an assembly text — so its result can be kept and looked up instead.

How an entry is found and trusted:

1. **key** — BLAKE2b of the *kind* of derivation, the format version, a fingerprint of the code that derives
   (the source files the caller names: changed code never reads old results) and the content itself. A changed
   file is a different key, so nothing is ever served stale; nothing is keyed by a path or a time.
2. **file** — ``<directory>/derived-<FORMAT>/<kind>/<key>``: a header line ``twzemu-derived <FORMAT> <key>
   <digest>`` and a JSON object of named fields, ``digest`` being the BLAKE2b of that JSON text.
3. **read** — on the first ``Entry.get``. A file that is missing, unreadable, for another key or format, whose
   digest does not match or whose JSON is not an object counts as empty; a field whose value its decoder refuses
   counts as absent. Either way the field is derived again and the entry rewritten: never a crash.
4. **write** — each newly derived field rewrites the entry: a temporary file in the same directory, then
   ``os.replace`` (atomic: a reader sees the old entry or the new one). Not fsynced: a torn file after a power
   loss fails its digest and is rebuilt. Failures to write are ignored (a read-only cache is a slower run, not
   an error); two processes writing one entry race harmlessly (each writes a whole, correct entry).

Where (``DerivedCache.beside``): in the object store's directory when the run names an existing one (``cache/``
in it, which is not an object and holds no names), else in the user's cache directory
(``$XDG_CACHE_HOME/twzemu``, default ``~/.cache/twzemu``, as the crossing engine's build). Nothing is ever
evicted: entries are small (a few KiB per file) and one per distinct content.

The cache is as trusted as the directory it lives in — like the store, whose objects become guest code: its
return sites decide which gate entries the crossing engine accepts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

FORMAT = 1
_MAGIC = "twzemu-derived"
_STORE_SUBDIRECTORY = "cache"
_DIGEST_SIZE = 20

T = TypeVar("T")
Json = Any  # what json.loads returns: dict, list, str, int, float, bool or None


def user_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/twzemu`` (XDG base directory spec), else ``~/.cache/twzemu``; None without a home."""
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "twzemu"
    except (RuntimeError, KeyError):  # Path.home(): no $HOME and no password entry
        return None


class DerivedCache:
    """A directory of entries (``None``: derive every time, keep results for this process only)."""

    __slots__ = ("directory",)
    snapshot_exempt = True  # derived facts never change: a machine snapshot leaves the cache alone

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"DerivedCache({self.directory})"

    @classmethod
    def beside(cls, store_directory: Path | None) -> DerivedCache:
        """In an existing store directory, else in the user's cache directory (module docstring)."""
        if store_directory is not None and store_directory.is_dir():
            return cls(store_directory / _STORE_SUBDIRECTORY)
        return cls(user_cache_dir())

    def entry(self, kind: str, content: bytes, code: Iterable[Path] = ()) -> Entry:
        """The entry of ``kind`` for ``content``, derived by the source files ``code``; read on first use."""
        key = hashlib.blake2b(content, digest_size=_DIGEST_SIZE, key=_fingerprint(kind, tuple(code))).hexdigest()
        folder = None if self.directory is None else self.directory / f"derived-{FORMAT}" / kind
        return Entry(key, folder)


class Entry:
    """The fields derived from one content: ``get`` answers from the file or derives, then keeps the result."""

    __slots__ = ("_fields", "_folder", "_key", "_values")
    snapshot_exempt = True

    def __init__(self, key: str, folder: Path | None) -> None:
        self._key = key
        self._folder = folder
        self._fields: dict[str, Json] | None = None  # as stored (JSON values), read on first use
        self._values: dict[str, object] = {}  # decoded, for this process

    @property
    def path(self) -> Path | None:
        return None if self._folder is None else self._folder / self._key

    def get(self, field: str, derive: Callable[[], T], encode: Callable[[T], Json], decode: Callable[[Json], T]) -> T:
        """``field``'s value: decoded from the entry, or ``derive()``d (and then stored). An exception of
        ``derive`` propagates and nothing is stored; ``decode`` raising anything means the stored value is bad."""
        if field in self._values:
            return self._values[field]  # type: ignore[return-value]
        fields = self._load()
        if field in fields:
            try:
                value = decode(fields[field])
            except Exception:  # a damaged or foreign value: derive it again below
                del fields[field]
            else:
                self._values[field] = value
                return value
        value = derive()
        self._values[field] = value
        if self._folder is not None:
            fields[field] = encode(value)
            self._store(fields)
        return value

    def _load(self) -> dict[str, Json]:
        if self._fields is None:
            self._fields = self._read()
        return self._fields

    def _read(self) -> dict[str, Json]:
        path = self.path
        if path is None:
            return {}
        try:
            header, _, body = path.read_bytes().partition(b"\n")
            magic, version, key, digest = header.decode("ascii").split(" ")
            if (magic, version, key) != (_MAGIC, str(FORMAT), self._key) or digest != _digest(body):
                return {}
            fields = json.loads(body)
        except (OSError, ValueError):  # missing, unreadable, a short header, not ASCII, not JSON
            return {}
        return fields if isinstance(fields, dict) else {}

    def _store(self, fields: dict[str, Json]) -> None:
        path = self.path
        assert path is not None
        body = json.dumps(fields, separators=(",", ":")).encode()
        data = f"{_MAGIC} {FORMAT} {self._key} {_digest(body)}\n".encode() + body
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{id(self):x}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as stream:
                stream.write(data)
            os.replace(temporary, path)
        except OSError:  # read-only, full, gone: the next run derives again
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def json_int(value: Json) -> int:
    """A stored integer, refused (``ValueError``: the field is derived again) if it is anything else."""
    if type(value) is not int:
        raise ValueError(f"not an integer: {value!r}")
    return value


def json_str(value: Json) -> str:
    """A stored string, refused (``ValueError``: the field is derived again) if it is anything else."""
    if type(value) is not str:
        raise ValueError(f"not a string: {value!r}")
    return value


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=_DIGEST_SIZE).hexdigest()


@cache
def _fingerprint(kind: str, code: tuple[Path, ...]) -> bytes:
    """The BLAKE2b key (at most 64 bytes) that makes every entry depend on the deriving code's sources."""
    sources = hashlib.blake2b(f"{kind}\0{FORMAT}".encode(), digest_size=32)
    for path in sorted(code):
        sources.update(path.name.encode() + b"\0" + path.read_bytes())
    return sources.digest()
