"""The object store: every object of a run, by id, plus a flat namespace of names → ids.

Data flow: the loader ``create``s objects and fills them, then ``put``s them; the linker and monitor ``get``
them by id and ``lookup`` libraries by name; ``twzemu store`` lists, adds and removes persistent objects.

Two kinds of store, one API:

* ``ObjectStore.in_memory()`` — everything lives in this process and vanishes with it. A run without a
  named store uses one, so its objects are volatile (Twizzler's default lifetime).
* ``ObjectStore.on_disk(path)`` — objects are also cached in memory, but every *persistent* object that is
  ``put`` is written to ``path/<id>.obj`` (format in ``objfile``), and the names to ``path/names.json``.
  Volatile objects, and names bound to them, stay in memory even here. Each file is replaced atomically
  (see ``atomic``), so a process killed at any moment leaves every file either old or new. Nothing touches
  the disk until it is needed: the directory is created by the first write and read on first access.

``store_from_env`` picks the store a command uses: ``--store DIR``, else ``$TWZEMU_STORE``, else in memory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from twzemu.errors import ObjectError
from twzemu.objects.atomic import atomic_remove, atomic_write
from twzemu.objects.layout import MetaInfo, Prot
from twzemu.objects.object import Lifetime, Object
from twzemu.objects.objfile import decode, encode
from twzemu.objects.objid import ObjId

STORE_ENV = "TWZEMU_STORE"
NAMES_FILE = "names.json"
OBJECT_SUFFIX = ".obj"
_NAMES_FORMAT = "twzemu-names"
_NAMES_VERSION = 1
_OBJECT_FILE = re.compile(r"0x[0-9a-f]{32}" + re.escape(OBJECT_SUFFIX))
_MAX_NAME_LENGTH = 255
# W^X: a fresh object is readable and writable; execute is granted per mapping, never by default.
DEFAULT_PROT = Prot.READ | Prot.WRITE


class ObjectStore:
    """Objects by id and names; in memory, or backed by a directory (``path``)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._objects: dict[ObjId, Object] = {}
        self._names: dict[str, ObjId] | None = None if path is not None else {}

    @classmethod
    def in_memory(cls) -> ObjectStore:
        """A store whose objects all vanish with the process."""
        return cls(None)

    @classmethod
    def on_disk(cls, path: str | os.PathLike[str]) -> ObjectStore:
        """A store that keeps persistent objects and names in directory ``path``."""
        return cls(Path(path))

    @property
    def path(self) -> Path | None:
        """The backing directory, or None for an in-memory store."""
        return self._path

    def __repr__(self) -> str:
        return f"ObjectStore({self._path or 'in memory'})"

    @property
    def _where(self) -> str:
        """How error messages name this store."""
        return "the in-memory store" if self._path is None else f"store {self._path}"

    # --- objects --------------------------------------------------------------------------------------------

    def create(self, lifetime: Lifetime = Lifetime.VOLATILE, id: ObjId | None = None) -> Object:
        """A new, empty object with a fresh random id (or ``id``), known to the store; ``put`` persists it."""
        new_id = ObjId.random() if id is None else id
        if new_id in self:
            raise ObjectError(f"object {new_id} already exists in {self._where}")
        obj = Object(new_id, lifetime)
        obj.meta = MetaInfo(nonce=ObjId.random(), default_prot=DEFAULT_PROT)
        self._objects[new_id] = obj
        return obj

    def get(self, id: ObjId) -> Object:
        """The object ``id``; ObjectError naming the id if the store has none."""
        obj = self._objects.get(id)
        if obj is None:
            obj = self._load(id)
            self._objects[id] = obj
        return obj

    def put(self, obj: Object) -> None:
        """Record ``obj`` (and, in an on-disk store, write it if it is persistent)."""
        self._objects[obj.id] = obj
        if self._path is not None and obj.lifetime is Lifetime.PERSISTENT:
            self._ensure_dir()
            atomic_write(self._object_file(obj.id), encode(obj))

    def remove(self, id: ObjId) -> None:
        """Forget object ``id``: unbind every name bound to it, then delete it (names first, so a crash in
        between leaves an unnamed object rather than a name of nothing)."""
        if id not in self:
            raise ObjectError(f"no object {id} in {self._where}")
        names = self._load_names()
        remaining = {name: bound for name, bound in names.items() if bound != id}
        if len(remaining) != len(names):
            self._save_names(remaining)
        self._objects.pop(id, None)
        if self._path is not None and self._object_file(id).exists():
            atomic_remove(self._object_file(id))

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, int) or not 0 <= id < 1 << 128:
            return False
        if id in self._objects:
            return True
        return self._path is not None and self._object_file(ObjId(id)).exists()

    def iter_ids(self) -> Iterator[ObjId]:
        """Every object id in the store, in increasing order."""
        return iter(sorted(set(self._objects) | set(self._ids_on_disk())))

    # --- names ----------------------------------------------------------------------------------------------

    def bind(self, name: str, id: ObjId) -> None:
        """Make ``name`` refer to object ``id`` (replacing what it referred to before)."""
        check_name(name)
        if id not in self:
            raise ObjectError(f"cannot bind name {name!r}: no object {id} in {self._where}")
        names = self._load_names()
        names[name] = id
        self._save_names(names)

    def lookup(self, name: str) -> ObjId:
        """The id bound to ``name``; ObjectError naming the name if it is unbound."""
        try:
            return self._load_names()[name]
        except KeyError:
            raise ObjectError(f"no object named {name!r} in {self._where}") from None

    def unbind(self, name: str) -> None:
        """Remove ``name``; ObjectError naming it if it is unbound."""
        names = self._load_names()
        if name not in names:
            raise ObjectError(f"no object named {name!r} in {self._where}")
        del names[name]
        self._save_names(names)

    def names(self) -> dict[str, ObjId]:
        """Every binding, sorted by name (a copy)."""
        return dict(sorted(self._load_names().items()))

    def names_view(self) -> Mapping[str, ObjId]:
        """Every binding, unsorted, read-only and live (no copy: for lookups in a loop)."""
        return MappingProxyType(self._load_names())

    def names_of(self, id: ObjId) -> list[str]:
        """The names bound to ``id``, sorted."""
        return sorted(name for name, bound in self._load_names().items() if bound == id)

    # --- disk -----------------------------------------------------------------------------------------------

    def _object_file(self, id: ObjId) -> Path:
        assert self._path is not None
        return self._path / f"{id}{OBJECT_SUFFIX}"

    def _ensure_dir(self) -> None:
        assert self._path is not None
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ObjectError(f"cannot create store directory {self._path}: {error.strerror}") from error

    def _ids_on_disk(self) -> list[ObjId]:
        if self._path is None or not self._path.exists():
            return []
        try:
            entries = os.listdir(self._path)
        except OSError as error:
            raise ObjectError(f"cannot list store directory {self._path}: {error.strerror}") from error
        return [ObjId.parse(entry[: -len(OBJECT_SUFFIX)]) for entry in entries if _OBJECT_FILE.fullmatch(entry)]

    def _load(self, id: ObjId) -> Object:
        if self._path is None or not self._object_file(id).exists():
            raise ObjectError(f"no object {id} in {self._where}")
        path = self._object_file(id)
        obj = decode(_read_file(path), str(path))
        if obj.id != id:
            raise ObjectError(f"damaged object file {path}: it holds object {obj.id}")
        return obj

    def _load_names(self) -> dict[str, ObjId]:
        if self._names is None:
            assert self._path is not None
            self._names = _read_names(self._path / NAMES_FILE)
        return self._names

    def _save_names(self, names: dict[str, ObjId]) -> None:
        """Keep ``names``; on disk, write those that outlive the process (not bound to volatile objects)."""
        self._names = names
        if self._path is None:
            return
        lasting = {name: id for name, id in names.items() if not self._is_volatile(id)}
        self._ensure_dir()
        atomic_write(self._path / NAMES_FILE, [_encode_names(lasting)])

    def _is_volatile(self, id: ObjId) -> bool:
        obj = self._objects.get(id)
        return obj is not None and obj.lifetime is Lifetime.VOLATILE


def store_from_env(path: str | None) -> ObjectStore:
    """The store a command uses: ``path`` (from ``--store DIR``), else ``$TWZEMU_STORE``, else in memory."""
    chosen = path or os.environ.get(STORE_ENV)
    return ObjectStore.on_disk(chosen) if chosen else ObjectStore.in_memory()


def check_name(name: str) -> None:
    """Names are single printable words, never id-shaped, so ``rm ID|NAME`` and ``ls`` stay unambiguous."""
    if not name or len(name) > _MAX_NAME_LENGTH or not name.isprintable() or any(c.isspace() for c in name):
        raise ObjectError(f"bad object name {name!r}: use 1 to {_MAX_NAME_LENGTH} printable, non-space characters")
    try:
        ObjId.parse(name)
    except ObjectError:
        return
    raise ObjectError(f"bad object name {name!r}: it reads as an object id")


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ObjectError(f"cannot read {path}: {error.strerror}") from error


def _encode_names(names: dict[str, ObjId]) -> bytes:
    document = {
        "format": _NAMES_FORMAT,
        "version": _NAMES_VERSION,
        "names": {name: str(id) for name, id in sorted(names.items())},
    }
    return (json.dumps(document, indent=1) + "\n").encode()


def _read_names(path: Path) -> dict[str, ObjId]:
    if not path.exists():
        return {}
    try:
        document = json.loads(_read_file(path))
        if document["format"] != _NAMES_FORMAT or document["version"] != _NAMES_VERSION:
            raise ValueError(f"format {document['format']!r} version {document['version']!r}")
        return {str(name): ObjId.parse(text) for name, text in document["names"].items()}
    except KeyError as error:
        raise ObjectError(f"damaged names file {path}: missing field {error}") from None
    except (ValueError, TypeError, AttributeError, ObjectError) as error:
        raise ObjectError(f"damaged names file {path}: {error}") from None
