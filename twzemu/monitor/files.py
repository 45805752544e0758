"""Files for guests: named objects of the run's store, and host directories mounted with ``--mount``.

A guest path is absolute or relative to the compartment's current directory (``chdir``): to begin with ``/`` of the
run's object namespace, or the first mount's directory. A path under a mount (``--mount DIR[:rw][:COMPARTMENT]``,
at DIR's own absolute path) is that host file, read-only unless ``:rw`` (then a file written reaches the host
atomically on close: a new file beside it, renamed over it), usable by every compartment unless COMPARTMENT names
the one that may. Every other path is an object named ``file:PATH`` in the store, persistent when the store is on
disk (``--store DIR``); the compartment that created it owns it (its name is in the object's header page), and any
other gets ``EACCES``. Directories there are objects named ``dir:PATH`` (``/`` and ``/tmp`` always exist); a file or
directory is created only in one, and a directory's listing shows its directories and the files the reader may open.

Each compartment has its own descriptors, 0-2 the standard streams to begin with (``Stream``); like a process's, a
new one is the lowest free number, and ``dup``/``dup2`` make two numbers share one open file (its offset too). An
open file's bytes are held by the run (one copy per file, shared by its descriptors) and go back to the object, or
the host file, when its last descriptor is closed.
Object layout: page 1 is the header (``HEADER``: size, then the owner's name, then ``KEPT``: the permission bits and
the modification time; zeros in a store written before they were kept, read as 0644 and the epoch), the bytes start
at page 2.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import struct
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..errors import ObjectError, TwzEmuError, UsageError
from ..objects.layout import META_OFFSET, NULL_PAGE_SIZE, PAGE_SIZE
from ..objects.object import Lifetime, Object
from ..objects.objid import ObjId
from ..objects.store import ObjectStore, check_name
from .pipes import Pipe, PipeEnd, release

EACCES, EBADF, EEXIST, EINVAL, EISDIR, EMFILE, ENOENT, EROFS, EFBIG, EIO = 13, 9, 17, 22, 21, 24, 2, 30, 27, 5
EXDEV, ENOTDIR, ENOTEMPTY, EBUSY, ENOSPC, ENOMEM, EPERM = 18, 20, 39, 16, 28, 12, 1
MAX_FILE_SIZE = META_OFFSET - PAGE_SIZE - 2 * NULL_PAGE_SIZE  # a file object's bytes: between its header and a FOT page
FILES_BUDGET = 1 << 30  # bytes the run's open files hold together in the host's memory (ENOSPC beyond)
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 3, 0, 1, 2, 0o100, 0o200, 0o1000, 0o2000
O_DIRECTORY = 0o200000
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
MAX_FILES = 256  # descriptors per compartment, 0 to MAX_FILES - 1
STANDARD_STREAMS = (0, 1, 2)
NAME_PREFIX = "file:"
DIRECTORY_PREFIX = "dir:"
ALWAYS_THERE = ("/", "/tmp")  # the object namespace's directories in every run
HEADER = struct.Struct("<QH")  # size, length of the owner's name (which follows, then KEPT)
KEPT = struct.Struct("<Iq")  # permission bits, modification time (ns since the epoch)
DEFAULT_MODE = 0o644
HEADER_AT = NULL_PAGE_SIZE
DATA_AT = 2 * NULL_PAGE_SIZE
S_IFREG, S_IFDIR = 0o100000, 0o040000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Mount:
    """``--mount DIR[:rw][:COMPARTMENT]``."""

    directory: Path  # absolute, resolved
    writable: bool = False
    compartment: str | None = None

    @classmethod
    def parse(cls, text: str) -> Mount:
        """``DIR[:rw][:COMPARTMENT]``; COMPARTMENT may hold ``::`` (``prog::libfoo.so``)."""
        directory, _, rest = text.partition(":")
        writable = rest == "rw" or rest.startswith("rw:")
        compartment = rest[3:] if writable else rest
        if not directory or (rest and not compartment and not writable) or compartment.startswith(":"):
            raise UsageError(f"twzemu run: --mount {text}: takes DIR[:rw][:COMPARTMENT]")
        path = Path(directory).resolve()
        if not stat.S_ISDIR(_host_mode(path)):
            raise UsageError(f"twzemu run: --mount {text}: {directory} is not a directory")
        return cls(path, writable, compartment or None)

    def refuses(self, compartment: str, writing: bool) -> int:
        """0 if ``compartment`` may use this mount so (-EACCES: another's mount; -EROFS: read-only)."""
        if self.compartment is not None and self.compartment != compartment:
            return -EACCES
        return -EROFS if writing and not self.writable else 0

    def contains(self, path: str) -> bool:
        root = str(self.directory)
        return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(slots=True)
class Content:
    """One file's bytes while the run has it open."""

    data: bytearray
    obj: Object | None = None  # an object's
    host: Path | None = None  # a mounted host file's
    mount: Mount | None = None  # the mount it is under (checked again when the bytes go back)
    owner: str = ""
    mode: int = DEFAULT_MODE  # permission bits (a host file's are the host's)
    modified_ns: int = 0  # an object's (a host file's is the host's)
    dirty: bool = False
    opened: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """What ``stat`` tells of a file or directory."""

    mode: int  # type and permission bits
    size: int
    inode: int
    modified_ns: int = 0


@dataclass(slots=True)
class Description:
    """An open file: what its descriptors (``refs`` of them) share."""

    content: Content
    readable: bool
    writable: bool
    append: bool
    path: str = ""
    offset: int = 0
    refs: int = 1


@dataclass(frozen=True, slots=True)
class Stream:
    """A descriptor of one of the run's standard streams: 0 stdin, 1 stdout, 2 stderr."""

    number: int


@dataclass(slots=True)
class Listing:
    """An open directory: its entries (name, whether a directory), listed when opened or rewound, read in turn."""

    path: str
    entries: list[tuple[str, bool]]
    position: int = 0
    refs: int = 1


Entry = Description | Stream | Listing | PipeEnd


@dataclass
class Files:
    """The run's files, served to compartments by name (``SystemCalls`` calls these)."""

    store: ObjectStore
    mounts: tuple[Mount, ...] = ()
    _tables: dict[str, dict[int, Entry]] = field(default_factory=dict)
    _open: dict[str, Content] = field(default_factory=dict)  # path -> bytes held while open
    _cwds: dict[str, str] = field(default_factory=dict)  # each compartment's current directory, once it changed it
    _live: dict[int, Content] = field(default_factory=dict)  # every file open (unlinked ones too), by id()
    _umasks: dict[str, int] = field(default_factory=dict)  # each compartment's (022 to begin with)
    _close_on_exec: dict[str, set[int]] = field(default_factory=dict)  # each compartment's descriptors marked so

    def cwd(self, compartment: str) -> str:
        return self._cwds.get(compartment) or (str(self.mounts[0].directory) if self.mounts else "/")

    def absolute(self, compartment: str, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd(compartment), path)).replace("//", "/")

    def _mount_of(self, path: str) -> Mount | None:
        """The innermost mount holding ``path``."""
        holding = [mount for mount in self.mounts if mount.contains(path)]
        return max(holding, key=lambda mount: len(str(mount.directory)), default=None)

    # -- the object namespace's names --------------------------------------------------------------------------

    def _bound(self, name: str) -> ObjId | None:
        return self.store.names_view().get(name)

    def _kind(self, full: str) -> int:
        """What ``full`` is in the object namespace: S_IFDIR, S_IFREG, or 0 (nothing)."""
        if full in ALWAYS_THERE or self._bound(DIRECTORY_PREFIX + full) is not None:
            return S_IFDIR
        return S_IFREG if self._bound(NAME_PREFIX + full) is not None else 0

    def _creatable(self, full: str) -> int:
        """0 if a new file or directory may be named ``full``: its parent is a directory (-ENOENT, -ENOTDIR)."""
        parent = self._kind(posixpath.dirname(full))
        return 0 if parent == S_IFDIR else -ENOTDIR if parent == S_IFREG else -ENOENT

    def _header(self, obj: Object) -> tuple[int, Content]:
        """A file or directory object's size, and its header as a ``Content`` without the bytes: owner, mode and
        modification time."""
        size, length = HEADER.unpack(obj.read(HEADER_AT, HEADER.size))
        owner = obj.read(HEADER_AT + HEADER.size, length).decode("utf-8", "surrogateescape")
        mode, modified = KEPT.unpack(obj.read(HEADER_AT + HEADER.size + length, KEPT.size))
        kept = Content(bytearray(), obj=obj, owner=owner, mode=mode & 0o7777 or DEFAULT_MODE, modified_ns=modified)
        return size, kept

    def _owner(self, obj: Object) -> str:
        return self._header(obj)[1].owner

    def _new_object(self, name: str, owner: str, mode: int) -> Content:
        lifetime = Lifetime.PERSISTENT if self.store.path is not None else Lifetime.VOLATILE
        obj = self.store.create(lifetime=lifetime)
        content = Content(bytearray(), obj=obj, owner=owner, mode=mode, dirty=True)
        self._save(content)
        assert content.obj is not None
        self.store.bind(name, content.obj.id)
        return content

    # -- open and close ----------------------------------------------------------------------------------------

    def umask(self, compartment: str, new: int) -> int:
        """Set ``compartment``'s file-creation mask; the one it had."""
        old = self._umasks.get(compartment, 0o022)
        self._umasks[compartment] = new & 0o777
        return old

    def _created_mode(self, compartment: str, mode: int) -> int:
        return mode & 0o7777 & ~self._umasks.get(compartment, 0o022)

    def open(self, compartment: str, path: str, flags: int, mode: int = 0o666) -> int:
        if not path:
            return -ENOENT
        full = self.absolute(compartment, path)
        access = flags & O_ACCMODE
        readable, writable = access != O_WRONLY, access in (O_WRONLY, O_RDWR)
        table = self._table(compartment)
        if len(table) >= MAX_FILES:
            return -EMFILE
        mount = self._mount_of(full)
        refused = mount.refuses(compartment, writable or bool(flags & O_TRUNC)) if mount else 0
        if refused:  # every open is checked, whoever has the file open already
            return refused
        if self.is_directory(compartment, path):
            return self._open_directory(compartment, full, flags, writable)
        if flags & O_DIRECTORY:
            return -ENOTDIR if isinstance(self.status(compartment, path), Status) else -ENOENT
        if path.endswith("/"):  # names a directory, and there is none: Linux's answers
            if flags & O_CREAT:
                return -EISDIR
            return -ENOTDIR if isinstance(self.status(compartment, path.rstrip("/") or "/"), Status) else -ENOENT
        content = self._open.get(full)
        if content is None:
            new = self._created_mode(compartment, mode)
            found = self._host(mount, full, flags, new) if mount else self._object(compartment, full, flags, new)
            if isinstance(found, int):
                return found
            content = found
        elif flags & O_CREAT and flags & O_EXCL:
            return -EEXIST
        if content.owner and content.owner != compartment:
            return -EACCES
        if id(content) not in self._live and self._held() + len(content.data) > FILES_BUDGET:
            return -ENOMEM
        self._live[id(content)] = content
        self._open[full] = content
        if flags & O_TRUNC and writable:
            content.data.clear()
            content.dirty = True
        content.opened += 1
        fd = _lowest_free(table, 0)  # a free one exists: the table holds fewer than MAX_FILES
        table[fd] = Description(content, readable, writable, bool(flags & O_APPEND), path=full)
        return fd

    def _open_directory(self, compartment: str, full: str, flags: int, writable: bool) -> int:
        if writable or (flags & O_CREAT and flags & O_EXCL):
            return -EISDIR if writable else -EEXIST
        entries = self._list(compartment, full)
        if isinstance(entries, int):
            return entries
        table = self._table(compartment)
        fd = _lowest_free(table, 0)
        table[fd] = Listing(full, entries)
        return fd

    def _table(self, compartment: str) -> dict[int, Entry]:
        table = self._tables.get(compartment)
        if table is None:
            table = self._tables[compartment] = {number: Stream(number) for number in STANDARD_STREAMS}
        return table

    def dup(self, compartment: str, fd: int, lowest: int = 0, target: int | None = None) -> int:
        """Another descriptor for ``fd``'s open file: the lowest free one from ``lowest`` (dup, F_DUPFD), or
        ``target``, closed first if open (dup2)."""
        table = self._table(compartment)
        entry = table.get(fd)
        if entry is None:
            return -EBADF
        if target is None:
            if len(table) >= MAX_FILES or lowest >= MAX_FILES:
                return -EMFILE if lowest < MAX_FILES else -EINVAL
            target = _lowest_free(table, lowest)
            if target < 0:
                return target
        elif not 0 <= target < MAX_FILES:
            return -EBADF
        elif target == fd:
            return fd
        elif target in table:
            self.close(compartment, target)
        if not isinstance(entry, Stream):
            entry.refs += 1
        table[target] = entry
        return target

    def entry(self, compartment: str, fd: int) -> Entry | None:
        return self._table(compartment).get(fd)

    def _inside(self, mount: Mount, full: str) -> Path | int:
        """The host path of ``full``, if it lies in ``mount`` once every symbolic link is followed."""
        host = Path(full)
        try:
            resolved = host.resolve(strict=False)
        except (OSError, RuntimeError):  # a name too long, a loop of links
            return -EACCES
        if not resolved.is_relative_to(mount.directory):  # a link out of the mount
            return -EACCES
        if self._mount_of(str(resolved)) is not mount:  # a link into a mount within it: that one decides
            return -EACCES
        return host

    def _host_path(self, mount: Mount, compartment: str, full: str, writing: bool) -> Path | int:
        """The host path of ``full`` for ``compartment``, or -errno: the mount refuses it, or a link leads out."""
        return mount.refuses(compartment, writing) or self._inside(mount, full)

    def _on_host(self, mount: Mount, compartment: str, full: str, act: Callable[[Path], object]) -> int:
        """``act`` on ``full``'s host path where ``compartment`` may write under ``mount``: 0, or -errno (the mount
        refuses, a link leads out, or the host does)."""
        host = self._host_path(mount, compartment, full, writing=True)
        if isinstance(host, int):
            return host
        try:
            act(host)
        except OSError as error:
            return -(error.errno or EACCES)
        return 0

    def _using(self, compartment: str, path: str, use: Callable[[Description], T]) -> T | int:
        """``use`` on the file ``path`` (not a directory) opened for reading as ``compartment`` may open it (-errno
        if it may not), closed after; an error closing it outranks ``use``'s result of 0."""
        fd = self.open(compartment, path, O_RDONLY)
        if fd < 0:
            return fd
        description = self.description(compartment, fd)
        assert description is not None
        result = use(description)
        closed = self.close(compartment, fd)
        return (closed or result) if isinstance(result, int) else result

    def _may_open(self, compartment: str, path: str) -> int:
        """0 if ``compartment`` may open ``path`` (a file or a directory), else -errno."""
        fd = self.open(compartment, path, O_RDONLY)
        return fd if fd < 0 else self.close(compartment, fd)

    def _own_directory(self, compartment: str, full: str) -> Content | int:
        """The header of the object namespace's directory ``full``, if ``compartment`` may change it (-EPERM:
        another's, or / and /tmp, which are nobody's)."""
        id = self._bound(DIRECTORY_PREFIX + full)
        if id is None:
            return -EPERM
        header = self._header(self.store.get(id))[1]
        return header if header.owner in ("", compartment) else -EPERM

    def _host(self, mount: Mount, full: str, flags: int, mode: int) -> Content | int:
        host = self._inside(mount, full)
        if isinstance(host, int):
            return host
        try:
            status = host.stat()
        except FileNotFoundError:
            if not flags & O_CREAT:
                return -ENOENT
            if not mount.writable:
                return -EROFS
            parent = _host_mode(host.parent)
            if not stat.S_ISDIR(parent):
                return -ENOTDIR if parent else -ENOENT
            return Content(bytearray(), host=host, mount=mount, mode=mode, dirty=True)
        except OSError as error:
            return -(error.errno or EACCES)
        if not stat.S_ISREG(status.st_mode):  # a fifo or a device would block or never end
            return -EACCES
        if status.st_size > MAX_FILE_SIZE:
            return -EFBIG
        if flags & O_CREAT and flags & O_EXCL:
            return -EEXIST
        try:
            return Content(bytearray(host.read_bytes()), host=host, mount=mount)
        except OSError as error:
            return -(error.errno or EACCES)

    def _object(self, compartment: str, full: str, flags: int, mode: int) -> Content | int:
        name = NAME_PREFIX + full
        try:
            check_name(name)
        except ObjectError:
            return -EINVAL  # a path the store cannot name (a space in it)
        id = self._bound(name)
        if id is not None:
            if flags & O_CREAT and flags & O_EXCL:
                return -EEXIST
            obj = self.store.get(id)
            size, content = self._header(obj)
            content.data = bytearray(obj.read(DATA_AT, min(size, MAX_FILE_SIZE)))
            return content
        if not flags & O_CREAT:
            return -ENOENT
        return self._creatable(full) or self._new_object(name, compartment, mode)

    def close_on_exec(self, compartment: str, fd: int, on: bool | None = None) -> bool:
        """Whether ``fd`` is closed on exec (a descriptor's own flag, not its open file's); ``on`` sets it."""
        marked = self._close_on_exec.setdefault(compartment, set())
        if on is not None:
            (marked.add if on else marked.discard)(fd)
        return fd in marked

    def close(self, compartment: str, fd: int) -> int:
        entry = self._table(compartment).pop(fd, None)
        if entry is None:
            return -EBADF
        self._close_on_exec.get(compartment, set()).discard(fd)
        if isinstance(entry, Stream):
            return 0
        entry.refs -= 1
        if entry.refs or isinstance(entry, Listing):  # another descriptor still has the file open
            return 0
        if isinstance(entry, PipeEnd):
            release(entry)
            return 0
        content = entry.content
        content.opened -= 1
        result = self._save(content) if content.dirty else 0
        if content.opened == 0:
            self._live.pop(id(content), None)
            if self._open.get(entry.path) is content:
                del self._open[entry.path]
        return result

    def close_all(self) -> None:
        """The end of the run: what is still open is saved, as a process's files are at its exit (each on its own:
        one that cannot be saved does not keep the others from it)."""
        for compartment, table in list(self._tables.items()):
            for fd in list(table):
                with contextlib.suppress(TwzEmuError):
                    self.close(compartment, fd)

    def _held(self) -> int:
        """Bytes the run's open files hold (FILES_BUDGET at most)."""
        return sum(len(content.data) for content in self._live.values())

    def _save(self, content: Content) -> int:
        """Write ``content`` back: 0, or -errno when the host refused it."""
        if content.dirty:
            content.modified_ns = time.time_ns()
        content.dirty = False
        if content.obj is not None:
            if content.data:
                content.obj.write(DATA_AT, bytes(content.data))
            self._write_header(content)
        elif content.host is not None:
            assert content.mount is not None
            host = self._inside(content.mount, str(content.host))  # its directory may have moved since it was opened
            if isinstance(host, int):
                return host
            try:
                mode = stat.S_IMODE(host.stat().st_mode) if host.exists() else content.mode
                with tempfile.NamedTemporaryFile(dir=host.parent, delete=False) as new:
                    new.write(content.data)
                    os.fchmod(new.fileno(), mode)  # the file's own mode, not the temporary file's 0600
                os.replace(new.name, host)
            except OSError as error:
                return -(error.errno or EIO)
        return 0

    def _write_header(self, content: Content) -> None:
        assert content.obj is not None
        owner = content.owner.encode("utf-8", "surrogateescape")
        kept = KEPT.pack(content.mode, content.modified_ns)
        content.obj.write(HEADER_AT, HEADER.pack(len(content.data), len(owner)) + owner + kept)
        self.store.put(content.obj)

    # -- descriptors ----------------------------------------------------------------------------------------------

    def description(self, compartment: str, fd: int) -> Description | None:
        """``fd``'s open file, if it is one (not a standard stream)."""
        entry = self._table(compartment).get(fd)
        return entry if isinstance(entry, Description) else None

    def read(self, description: Description, length: int) -> bytes | int:
        if not description.readable:
            return -EBADF
        data = bytes(description.content.data[description.offset : description.offset + length])
        description.offset += len(data)
        return data

    def write(self, description: Description, data: bytes) -> int:
        if not description.writable:
            return -EBADF
        if not data:
            return 0  # beyond the end too: writing nothing extends nothing
        content = description.content
        if description.append:
            description.offset = len(content.data)
        end = description.offset + len(data)
        if end > MAX_FILE_SIZE:
            return -EFBIG
        if end > len(content.data) and self._held() + end - len(content.data) > FILES_BUDGET:
            return -ENOSPC
        if description.offset > len(content.data):
            content.data.extend(bytes(description.offset - len(content.data)))
        content.data[description.offset : end] = data
        description.offset = end
        content.dirty = True
        return len(data)

    def truncate(self, description: Description, length: int) -> int:
        if not description.writable:
            return -EINVAL
        if not 0 <= length <= MAX_FILE_SIZE:
            return -EINVAL if length < 0 else -EFBIG
        data = description.content.data
        if length > len(data) and self._held() + length - len(data) > FILES_BUDGET:
            return -ENOSPC
        del data[length:]
        data.extend(bytes(length - len(data)))
        description.content.dirty = True
        return 0

    def seek(self, description: Description, offset: int, whence: int) -> int:
        base = {SEEK_SET: 0, SEEK_CUR: description.offset, SEEK_END: len(description.content.data)}.get(whence)
        if base is None or not 0 <= base + offset <= MAX_FILE_SIZE:
            return -EINVAL
        description.offset = base + offset
        return description.offset

    # -- pipes ------------------------------------------------------------------------------------------------

    def pipe(self, compartment: str, nonblocking: bool) -> tuple[int, int] | int:
        """Two new descriptors, the read end's and the write end's (-EMFILE without room for both)."""
        table = self._table(compartment)
        if len(table) > MAX_FILES - 2:
            return -EMFILE
        pipe = Pipe()
        reader = _lowest_free(table, 0)
        table[reader] = PipeEnd(pipe, writing=False, nonblocking=nonblocking)
        writer = _lowest_free(table, 0)
        table[writer] = PipeEnd(pipe, writing=True, nonblocking=nonblocking)
        return reader, writer

    # -- directories ------------------------------------------------------------------------------------------

    def is_directory(self, compartment: str, path: str) -> bool:
        """Whether ``path`` names a directory ``compartment`` may look at: a host directory under a mount, or one
        of the object namespace's."""
        full = self.absolute(compartment, path)
        mount = self._mount_of(full)
        if mount is not None:
            host = self._host_path(mount, compartment, full, writing=False)
            return not isinstance(host, int) and stat.S_ISDIR(_host_mode(host))
        return self._kind(full) == S_IFDIR

    def _list(self, compartment: str, full: str) -> list[tuple[str, bool]] | int:
        """A directory's entries as ``compartment`` sees them, ``.`` and ``..`` first."""
        entries = [(".", True), ("..", True)]
        mount = self._mount_of(full)
        if mount is not None:
            host = self._inside(mount, full)  # again at each rewind: its directory may have moved
            if isinstance(host, int):
                return host
            try:
                with os.scandir(host) as scan:
                    entries += sorted((entry.name, entry.is_dir()) for entry in scan)
            except OSError as error:
                return -(error.errno or EACCES)
            return entries
        prefix = full.rstrip("/") + "/"
        for name, id in self.store.names_view().items():
            kind, _, path = name.partition(":")
            if not path.startswith(prefix) or "/" in path[len(prefix) :] or path == prefix:
                continue
            if kind + ":" == DIRECTORY_PREFIX:
                entries.append((path[len(prefix) :], True))
            elif kind + ":" == NAME_PREFIX and self._owner(self.store.get(id)) in ("", compartment):
                entries.append((path[len(prefix) :], False))  # only the files this compartment may open
        if full == "/" and self._bound(DIRECTORY_PREFIX + "/tmp") is None:
            entries.append(("tmp", True))
        return sorted(entries[:2]) + sorted(entries[2:])

    def rewind(self, listing: Listing, compartment: str, position: int) -> int:
        """Where the next read of ``listing`` starts (0 lists the directory again, as ``rewinddir`` does)."""
        if not 0 <= position <= len(listing.entries):
            return -EINVAL
        if position == 0:
            entries = self._list(compartment, listing.path)
            listing.entries = entries if not isinstance(entries, int) else []
        listing.position = position
        return position

    def make_directory(self, compartment: str, path: str, mode: int = 0o777) -> int:
        if not path:
            return -ENOENT
        full = self.absolute(compartment, path)
        mount = self._mount_of(full)
        mode = self._created_mode(compartment, mode)
        if mount is not None:

            def make(host: Path) -> None:
                host.mkdir()
                os.chmod(host, mode)  # exactly the guest's mode: the host's own umask does not apply

            made = self._on_host(mount, compartment, full, make)
            return -EEXIST if made == -EROFS and self.is_directory(compartment, path) else made
        try:
            check_name(DIRECTORY_PREFIX + full)
        except ObjectError:
            return -EINVAL
        if self._kind(full):
            return -EEXIST
        return self._creatable(full) or (self._new_object(DIRECTORY_PREFIX + full, compartment, mode) and 0)

    # -- status and permissions ---------------------------------------------------------------------------------

    def status(self, compartment: str, path: str) -> Status | int:
        """What stat tells of ``path`` (-errno if there is nothing, or the compartment may not see it)."""
        full = self.absolute(compartment, path)
        if self.is_directory(compartment, path):
            mount = self._mount_of(full)
            if mount is not None:
                host = self._inside(mount, full)
                return self._host_status(host) if not isinstance(host, int) else host
            id = self._bound(DIRECTORY_PREFIX + full)
            if id is None:  # / and /tmp
                return Status(S_IFDIR | 0o755, 4096, _inode(full))
            header = self._header(self.store.get(id))[1]
            return Status(S_IFDIR | header.mode, 4096, _inode(full), header.modified_ns)
        return self._using(compartment, path, self.status_of)

    def status_of(self, description: Description) -> Status:
        content = description.content
        if content.host is not None and content.host.exists():
            host = self._host_status(content.host)
            if isinstance(host, Status):
                return Status(host.mode, len(content.data), host.inode, host.modified_ns)
        inode = content.obj.id & (1 << 63) - 1 if content.obj is not None else _inode(description.path)
        return Status(S_IFREG | content.mode, len(content.data), inode, content.modified_ns)

    @staticmethod
    def _host_status(host: Path) -> Status | int:
        try:
            found = host.stat()
        except OSError as error:
            return -(error.errno or EACCES)
        return Status(found.st_mode, found.st_size, found.st_ino, found.st_mtime_ns)

    def set_times(self, compartment: str, target: str | Description, accessed: int | None, modified: int | None,
                  ) -> int:  # fmt: skip
        """utimensat: a file's or directory's times (ns since the epoch; None leaves one as it is). The object
        namespace keeps only the modification time; a host file under a writable mount gets both."""
        if isinstance(target, Description):
            content, full = target.content, target.path
        else:
            content, full = None, self.absolute(compartment, target)
        mount = self._mount_of(full)
        if mount is not None:

            def touch(host: Path) -> None:
                now = host.stat()
                os.utime(host, ns=(now.st_atime_ns if accessed is None else accessed,
                                   now.st_mtime_ns if modified is None else modified))  # fmt: skip

            return self._on_host(mount, compartment, full, touch)
        if content is None and self._kind(full) == S_IFDIR:
            found = self._own_directory(compartment, full)
            if isinstance(found, int):
                return found
            content = found
        elif content is None:
            return self._using(
                compartment, full, lambda opened: self.set_times(compartment, opened, accessed, modified)
            )
        if modified is not None:
            content.modified_ns = modified
            if content.obj is not None:
                self._write_header(content)
        return 0

    def read_only(self, compartment: str, path: str) -> bool:
        """Whether ``path`` is under a mount ``compartment`` may not write."""
        mount = self._mount_of(self.absolute(compartment, path))
        return mount is not None and mount.refuses(compartment, writing=True) == -EROFS

    def change_mode(self, compartment: str, path: str, mode: int) -> int:
        """chmod: a host file under a writable mount, or a file or directory of the caller's own."""
        full = self.absolute(compartment, path)
        mount = self._mount_of(full)
        if mount is not None:
            return self._on_host(mount, compartment, full, lambda host: os.chmod(host, mode & 0o7777))
        if self._kind(full) == S_IFDIR:
            header = self._own_directory(compartment, full)
            if isinstance(header, int):
                return header
            header.mode = mode & 0o7777
            return self._save(header)
        return self._using(compartment, path, lambda opened: self.change_mode_of(compartment, opened, mode))

    def change_mode_of(self, compartment: str, description: Description, mode: int) -> int:
        """fchmod."""
        content = description.content
        if content.host is not None:
            assert content.mount is not None
            return self._on_host(
                content.mount, compartment, str(content.host), lambda host: os.chmod(host, mode & 0o7777)
            )
        content.mode = mode & 0o7777
        content.dirty = True
        return 0

    def remove_directory(self, compartment: str, path: str) -> int:
        full = self.absolute(compartment, path)
        mount = self._mount_of(full)
        if mount is not None:
            if full == str(mount.directory):
                return -EBUSY
            return self._on_host(mount, compartment, full, Path.rmdir)
        kind = self._kind(full)
        if kind != S_IFDIR:
            return -ENOTDIR if kind else -ENOENT
        if full in ALWAYS_THERE and self._bound(DIRECTORY_PREFIX + full) is None:
            return -EBUSY
        id = self._bound(DIRECTORY_PREFIX + full)
        assert id is not None
        if self._owner(self.store.get(id)) not in ("", compartment):
            return -EACCES
        below = full.rstrip("/") + "/"
        if any(name.partition(":")[2].startswith(below) for name in self.store.names_view()):
            return -ENOTEMPTY
        self.store.remove(id)
        return 0

    def change_directory(self, compartment: str, path: str) -> int:
        if not self.is_directory(compartment, path):
            return -ENOTDIR if isinstance(self.status(compartment, path), Status) else -ENOENT
        self._cwds[compartment] = self.absolute(compartment, path)
        return 0

    # -- paths -------------------------------------------------------------------------------------------------

    def unlink(self, compartment: str, path: str) -> int:
        full = self.absolute(compartment, path)
        mount = self._mount_of(full)
        if mount is not None:
            removed = self._on_host(mount, compartment, full, Path.unlink)  # a directory: EISDIR, the host says
            if not removed:
                self._forget(full)
            return removed
        if self._kind(full) == S_IFDIR:
            return -EISDIR
        refused = self._may_open(compartment, path)  # the caller's own
        if refused:
            return refused
        self.store.remove(self.store.lookup(NAME_PREFIX + full))
        self._forget(full)
        return 0

    def rename(self, compartment: str, old: str, new: str) -> int:
        """Within the object namespace (both the caller's, or ``new`` free), or within one writable mount."""
        old_full, new_full = self.absolute(compartment, old), self.absolute(compartment, new)
        mount = self._mount_of(old_full)
        if mount is not self._mount_of(new_full):
            return -EXDEV
        if mount is not None:
            source = self._host_path(mount, compartment, old_full, writing=True)
            if isinstance(source, int):
                return source
            target = self._host_path(mount, compartment, new_full, writing=True)
            if isinstance(target, int):
                return target
            if self._holds_a_mount(source) or self._holds_a_mount(target):
                return -EBUSY  # moving a mount's directory, or one holding it, would move its files out of it
            if old_full == new_full:
                return 0
            try:
                source.replace(target)
            except OSError as error:
                return -(error.errno or EACCES)
        else:
            refused = self._rename_object(compartment, old_full, new_full)
            if refused or old_full == new_full:
                return refused
        self._forget(new_full)
        content = self._open.pop(old_full, None)
        if content is not None:
            self._open[new_full] = content
        return 0

    def _holds_a_mount(self, host: Path) -> bool:
        """Whether ``host`` is a mount's directory or holds one."""
        try:
            resolved = host.resolve(strict=False)
        except (OSError, RuntimeError):
            return True
        return any(mount.directory.is_relative_to(resolved) for mount in self.mounts)

    def _rename_object(self, compartment: str, old: str, new: str) -> int:
        """A file of the caller's to a free name or over another of its own, in an existing directory; or a
        directory (``_rename_directory``)."""
        if self._kind(old) == S_IFDIR:
            return self._rename_directory(compartment, old, new)
        for path in (old, new) if old != new else (old,):
            refused = self._may_open(compartment, path)  # the caller's own, or (the new name) none yet
            if refused and (refused != -ENOENT or path == old):
                return refused
        if old == new:
            return 0
        if self._kind(new) == S_IFDIR:
            return -EISDIR
        refused = self._creatable(new)
        if refused:
            return refused
        replaced = self._bound(NAME_PREFIX + new)
        if replaced is not None:
            self.store.remove(replaced)
        self.store.bind(NAME_PREFIX + new, self.store.lookup(NAME_PREFIX + old))
        self.store.unbind(NAME_PREFIX + old)
        return 0

    def _rename_directory(self, compartment: str, old: str, new: str) -> int:
        """A directory of the caller's holding nothing of anyone else's (it would move their files), to a free name
        or over an empty directory of its own, never into itself."""
        id = self._bound(DIRECTORY_PREFIX + old)
        if id is None:
            return -EBUSY  # / and /tmp
        below = old.rstrip("/") + "/"
        if new == old:
            return 0
        if new.startswith(below):
            return -EINVAL
        moving = {name: bound for name, bound in self.store.names_view().items()
                  if name.partition(":")[0] + ":" in (NAME_PREFIX, DIRECTORY_PREFIX)
                  and (name.partition(":")[2] == old or name.partition(":")[2].startswith(below))}  # fmt: skip
        if any(self._owner(self.store.get(bound)) not in ("", compartment) for bound in moving.values()):
            return -EACCES
        kind = self._kind(new)
        if kind == S_IFREG:
            return -ENOTDIR
        if kind == S_IFDIR:
            removed = self.remove_directory(compartment, new)  # an empty one of the caller's gives way
            if removed:
                return removed
        refused = self._creatable(new)
        if refused:
            return refused
        renamed = {name: name.replace(old, new, 1) for name in moving}
        try:
            for name in renamed.values():
                check_name(name)
        except ObjectError:
            return -EINVAL
        for name, bound in moving.items():
            self.store.unbind(name)
            self.store.bind(renamed[name], bound)
        for path in [path for path in self._open if path.startswith(below)]:
            self._open[new + path[len(old) :]] = self._open.pop(path)
        return 0

    def _forget(self, full: str) -> None:
        """An unlinked file's bytes are no longer saved anywhere (descriptors still open read and write them)."""
        content = self._open.pop(full, None)
        if content is not None:
            content.obj = content.host = None


def _lowest_free(table: dict[int, Entry], lowest: int) -> int:
    """The lowest descriptor from ``lowest`` not in ``table``, or -EMFILE."""
    return next((n for n in range(lowest, MAX_FILES) if n not in table), -EMFILE)


def _host_mode(path: Path) -> int:
    """``path``'s mode on the host, links followed; 0 where there is nothing or the host cannot tell (a name too
    long, a loop of links)."""
    try:
        return path.stat().st_mode
    except OSError:
        return 0


def _inode(path: str) -> int:
    """An inode number for a path with nothing better (the object namespace's directories)."""
    return zlib.crc32(path.encode("utf-8", "surrogateescape")) + 1
