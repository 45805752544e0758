"""Files for guests: named objects of the run's store, and host directories mounted with ``--mount``.

A guest path is absolute or relative to the current directory: ``/`` of the run's object namespace, or the first
mount's directory. A path under a mount (``--mount DIR[:rw][:COMPARTMENT]``, at DIR's own absolute path) is that
host file, read-only unless ``:rw`` (then a file written reaches the host atomically on close: a new file beside
it, renamed over it), usable by every compartment unless COMPARTMENT names the one that may. Every other path is
an object named ``file:PATH`` in the store, persistent when the store is on disk (``--store DIR``); the compartment
that created it owns it (its name is in the object's header page), and any other gets ``EACCES``.

Each compartment has its own descriptors (3 upwards; 0-2 are the standard streams). An open file's bytes are held
by the run (one copy per file, shared by its descriptors) and go back to the object, or the host file, on close.
Object layout: page 1 is the header (``HEADER``: size, then the owner's name), the bytes start at page 2.
"""

from __future__ import annotations

import os
import posixpath
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ObjectError, UsageError
from ..objects.layout import NULL_PAGE_SIZE
from ..objects.object import Lifetime, Object
from ..objects.store import ObjectStore

EACCES, EBADF, EEXIST, EINVAL, EISDIR, EMFILE, ENOENT, EROFS = 13, 9, 17, 22, 21, 24, 2, 30
O_ACCMODE, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 3, 1, 2, 0o100, 0o200, 0o1000, 0o2000
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
FIRST_FD, MAX_FILES = 3, 256
NAME_PREFIX = "file:"
HEADER = struct.Struct("<QH")  # size, length of the owner's name (which follows)
HEADER_AT = NULL_PAGE_SIZE
DATA_AT = 2 * NULL_PAGE_SIZE
S_IFREG = 0o100000


@dataclass(frozen=True, slots=True)
class Mount:
    """``--mount DIR[:rw][:COMPARTMENT]``."""

    directory: Path  # absolute, resolved
    writable: bool = False
    compartment: str | None = None

    @classmethod
    def parse(cls, text: str) -> Mount:
        directory, *options = text.split(":")
        writable = False
        compartment = None
        for option in options:
            if option == "rw" and not writable:
                writable = True
            elif option and compartment is None:
                compartment = option
            else:
                raise UsageError(f"twzemu run: --mount {text}: takes DIR[:rw][:COMPARTMENT]")
        path = Path(directory).resolve()
        if not path.is_dir():
            raise UsageError(f"twzemu run: --mount {text}: {directory} is not a directory")
        return cls(path, writable, compartment)

    def contains(self, path: str) -> bool:
        root = str(self.directory)
        return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(slots=True)
class Content:
    """One file's bytes while the run has it open."""

    data: bytearray
    obj: Object | None = None  # an object's
    host: Path | None = None  # a mounted host file's
    owner: str = ""
    dirty: bool = False
    opened: int = 0


@dataclass(slots=True)
class Description:
    content: Content
    readable: bool
    writable: bool
    append: bool
    offset: int = 0


@dataclass
class Files:
    """The run's files, served to compartments by name (``SystemCalls`` calls these)."""

    store: ObjectStore
    mounts: tuple[Mount, ...] = ()
    _tables: dict[str, dict[int, Description]] = field(default_factory=dict)
    _open: dict[str, Content] = field(default_factory=dict)  # path -> bytes held while open

    @property
    def cwd(self) -> str:
        return str(self.mounts[0].directory) if self.mounts else "/"

    def absolute(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, path)).replace("//", "/")

    def _mount_of(self, path: str) -> Mount | None:
        return next((mount for mount in self.mounts if mount.contains(path)), None)

    # -- open and close ----------------------------------------------------------------------------------------

    def open(self, compartment: str, path: str, flags: int) -> int:
        if not path:
            return -ENOENT
        full = self.absolute(path)
        access = flags & O_ACCMODE
        readable, writable = access != O_WRONLY, access in (O_WRONLY, O_RDWR)
        table = self._tables.setdefault(compartment, {})
        if len(table) >= MAX_FILES:
            return -EMFILE
        mount = self._mount_of(full)
        content = self._open.get(full)
        if content is None:
            found = self._host(compartment, mount, full, flags) if mount else self._object(compartment, full, flags)
            if isinstance(found, int):
                return found
            content = self._open[full] = found
        elif flags & O_CREAT and flags & O_EXCL:
            return -EEXIST
        if mount is not None and (writable or flags & O_TRUNC) and not mount.writable:
            return -EROFS
        if content.owner and content.owner != compartment:
            return -EACCES
        if flags & O_TRUNC and writable:
            content.data.clear()
            content.dirty = True
        content.opened += 1
        fd = next(n for n in range(FIRST_FD, FIRST_FD + MAX_FILES + 1) if n not in table)
        table[fd] = Description(content, readable, writable, bool(flags & O_APPEND))
        return fd

    def _host(self, compartment: str, mount: Mount, full: str, flags: int) -> Content | int:
        if mount.compartment is not None and mount.compartment != compartment:
            return -EACCES
        host = Path(full)
        if not host.resolve().is_relative_to(mount.directory):  # a symbolic link out of the mount
            return -EACCES
        if host.is_dir():
            return -EISDIR
        if host.exists():
            if flags & O_CREAT and flags & O_EXCL:
                return -EEXIST
            return Content(bytearray(host.read_bytes()), host=host)
        if not flags & O_CREAT:
            return -ENOENT
        if not mount.writable:
            return -EROFS
        return Content(bytearray(), host=host, dirty=True)

    def _object(self, compartment: str, full: str, flags: int) -> Content | int:
        name = NAME_PREFIX + full
        try:
            obj = self.store.get(self.store.lookup(name))
        except ObjectError:
            obj = None
        if obj is not None:
            if flags & O_CREAT and flags & O_EXCL:
                return -EEXIST
            size, length = HEADER.unpack(obj.read(HEADER_AT, HEADER.size))
            owner = obj.read(HEADER_AT + HEADER.size, length).decode()
            return Content(bytearray(obj.read(DATA_AT, size)), obj=obj, owner=owner)
        if not flags & O_CREAT:
            return -ENOENT
        lifetime = Lifetime.PERSISTENT if self.store.path is not None else Lifetime.VOLATILE
        obj = self.store.create(lifetime=lifetime)
        content = Content(bytearray(), obj=obj, owner=compartment, dirty=True)
        self._save(content)
        try:
            self.store.bind(name, obj.id)
        except ObjectError:
            return -EINVAL  # a path the store cannot name (a space in it)
        return content

    def close(self, compartment: str, fd: int) -> int:
        description = self._tables.get(compartment, {}).pop(fd, None)
        if description is None:
            return -EBADF
        content = description.content
        content.opened -= 1
        if content.dirty:
            self._save(content)
        if content.opened == 0:
            self._open = {path: held for path, held in self._open.items() if held is not content}
        return 0

    def close_all(self) -> None:
        """The end of the run: what is still open is saved, as a process's files are at its exit."""
        for compartment, table in list(self._tables.items()):
            for fd in list(table):
                self.close(compartment, fd)

    def _save(self, content: Content) -> None:
        content.dirty = False
        if content.obj is not None:
            owner = content.owner.encode()
            content.obj.write(HEADER_AT, HEADER.pack(len(content.data), len(owner)) + owner)
            if content.data:
                content.obj.write(DATA_AT, bytes(content.data))
            self.store.put(content.obj)
        elif content.host is not None:
            with tempfile.NamedTemporaryFile(dir=content.host.parent, delete=False) as new:
                new.write(content.data)
            os.replace(new.name, content.host)

    # -- descriptors ----------------------------------------------------------------------------------------------

    def description(self, compartment: str, fd: int) -> Description | None:
        return self._tables.get(compartment, {}).get(fd)

    def read(self, description: Description, length: int) -> bytes | int:
        if not description.readable:
            return -EBADF
        data = bytes(description.content.data[description.offset : description.offset + length])
        description.offset += len(data)
        return data

    def write(self, description: Description, data: bytes) -> int:
        if not description.writable:
            return -EBADF
        content = description.content
        if description.append:
            description.offset = len(content.data)
        end = description.offset + len(data)
        if description.offset > len(content.data):
            content.data.extend(bytes(description.offset - len(content.data)))
        content.data[description.offset : end] = data
        description.offset = end
        content.dirty = True
        return len(data)

    def seek(self, description: Description, offset: int, whence: int) -> int:
        base = {SEEK_SET: 0, SEEK_CUR: description.offset, SEEK_END: len(description.content.data)}.get(whence)
        if base is None or base + offset < 0:
            return -EINVAL
        description.offset = base + offset
        return description.offset

    def size(self, compartment: str, path: str) -> int:
        """A path's size for stat (-errno if there is none, or the compartment may not see it)."""
        fd = self.open(compartment, path, 0)
        if fd < 0:
            return fd
        description = self.description(compartment, fd)
        assert description is not None
        size = len(description.content.data)
        self.close(compartment, fd)
        return size

    def unlink(self, compartment: str, path: str) -> int:
        full = self.absolute(path)
        mount = self._mount_of(full)
        if mount is not None:
            if not mount.writable:
                return -EROFS
            if mount.compartment is not None and mount.compartment != compartment:
                return -EACCES
            try:
                Path(full).unlink()
            except FileNotFoundError:
                return -ENOENT
            return 0
        fd = self.open(compartment, path, 0)
        if fd < 0:
            return fd
        self.close(compartment, fd)
        self.store.remove(self.store.lookup(NAME_PREFIX + full))
        return 0
