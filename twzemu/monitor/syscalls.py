"""The Linux system calls the monitor serves for a compartment's C library: what Twizzler's "twix" does for its
musl, here behind one monitor gate, ``__twz_monitor_syscall(n, a, b, c, d, e)``.

The runtime (``twzemu/sdk/rt/syscall.c``) handles in the compartment what needs nobody else (anonymous memory, the
signal table, its thread id) and sends the rest here. Each call serves the compartment the crossing came from and
touches its buffers only as that compartment may (``AddressSpace.user_may`` on its own page tables): a buffer in
memory it cannot write is ``EFAULT``, never a write on its behalf. An unknown call answers ``ENOSYS``; with
``--verbose`` the monitor names it once.
"""

from __future__ import annotations

import os
import posixpath
import select
import stat
import struct
import time
import zlib
from collections.abc import Callable, Mapping
from typing import BinaryIO, Protocol

from ..errors import TwzEmuError
from ..loader import STACK_SIZE
from ..mmu.space import Access, AddressSpace
from .files import (
    MAX_FILES,
    O_APPEND,
    O_DIRECTORY,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    S_IFDIR,
    Description,
    Files,
    Listing,
    Status,
    Stream,
)
from .pipes import PIPE_CAPACITY, PipeEnd, drain, fill

# errno values (Linux, asm-generic/errno-base.h)
EPERM, ENOENT, EBADF, EFAULT, EINVAL, ENOTTY, ESPIPE, ERANGE, ENOSYS, ENAMETOOLONG = 1, 2, 9, 14, 22, 25, 29, 34, 38, 36
EISDIR, ENOTDIR, ESRCH, EINTR, EAGAIN = 21, 20, 3, 4, 11
O_NONBLOCK, O_CLOEXEC, O_DIRECT = 0o4000, 0o2000000, 0o40000
S_IFIFO = 0o010000
AT_REMOVEDIR, AT_EMPTY_PATH = 0x200, 0x1000
W_OK, X_OK = 2, 1
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
EROFS, EACCES, ENOMEM = 30, 13, 12
AT_FDCWD = -100
PATH_MAX = 4096
MAX_IO = 1 << 20  # bytes one read or write moves at most
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
FD_CLOEXEC = 1
TIMER_ABSTIME = 1
SLEEP_SLICE = 0.05  # seconds: a sleep is slept in slices, so a deadline or Ctrl-C cuts it short
S_IFCHR = 0o020000
ARCH_SET_FS, ARCH_GET_FS = 0x1002, 0x1003
CLOCKS = {
    0: time.CLOCK_REALTIME,
    1: time.CLOCK_MONOTONIC,
    2: time.CLOCK_PROCESS_CPUTIME_ID,
    3: time.CLOCK_THREAD_CPUTIME_ID,
    4: time.CLOCK_MONOTONIC_RAW,
    5: time.CLOCK_REALTIME,  # _COARSE
    6: time.CLOCK_MONOTONIC,  # _COARSE
    7: time.CLOCK_BOOTTIME,
}
TIMESPEC = struct.Struct("<qq")
TIMEVAL = struct.Struct("<qq")
POLLFD = struct.Struct("<ihh")  # fd, events, revents
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
FD_SETSIZE = 1024
# struct stat (x86-64): dev, ino, nlink, mode, uid, gid, pad, rdev, size, blksize, blocks, 3 timespecs, 3 reserved
STAT = struct.Struct("<QQQIIIiQqqq" + "qq" * 3 + "qqq")
DIRENT = struct.Struct("<QqHB")  # struct linux_dirent64 before its name: inode, next offset, length, type
DT_DIR, DT_REG = 4, 8
RLIMIT_STACK, RLIMIT_NOFILE, RLIM_INFINITY = 3, 7, (1 << 64) - 1


class Caller(Protocol):
    """The compartment served: its name, its page tables, and its thread pointer (what arch_prctl may set)."""

    name: str
    space: AddressSpace
    thread_pointer: int


class SystemCalls:
    """``SystemCalls(...)(caller, n, args)`` -> the result a Linux kernel would give (``-errno`` on failure)."""

    def __init__(self, stdin: BinaryIO | None, files: Files, note: Callable[[str], None] | None = None,
                 streams: Mapping[int, BinaryIO] | None = None, stopping: Callable[[], bool] = lambda: False,
                 deadlock: Callable[[str], None] = lambda what: None) -> None:  # fmt: skip
        self.stdin = stdin
        self.streams = dict(streams or {})  # 1 and 2: where the run's stdout and stderr go
        self.stopping = stopping  # whether the run is to stop (its deadline, Ctrl-C): a sleep ends then
        self.deadlock = deadlock  # stops the run: the guest waits for what nothing can bring
        self.thread_id: Callable[[], int] = lambda: 1  # the running thread's id, for reports
        self.files = files
        self._started = time.process_time_ns()  # the run's CPU clock starts at 0
        self.note = note  # --verbose: told each unknown call once
        self._noted: set[int] = set()
        # Waits the threads take over (``monitor.threads``): a sleep until a time (None: the caller is parked), and
        # a call to make again once another thread had a turn (False: no other thread could change anything).
        self.sleep_until: Callable[[float], int | None] = self._sleep_here
        self.retry_later: Callable[[str], bool] = lambda what: False
        self._table: dict[int, Callable[[Caller, tuple[int, ...]], int | None]] = {
            0: self._read,
            1: self._write,
            2: self._open,
            3: self._close,
            4: self._stat,
            5: self._fstat,
            6: self._stat,
            8: self._lseek,
            21: self._access,
            74: self._sync,
            75: self._sync,
            79: self._getcwd,
            87: self._unlink,
            257: self._openat,
            262: self._fstatat,
            263: self._unlinkat,
            82: self._rename,
            264: self._renameat,
            316: self._renameat2,
            269: self._faccessat,
            16: self._ioctl,
            63: self._uname,
            72: self._fcntl,
            96: self._gettimeofday,
            158: self._arch_prctl,
            201: self._time,
            228: self._clock_gettime,
            229: self._clock_getres,
            318: self._getrandom,
            32: self._dup,
            33: self._dup2,
            292: self._dup3,
            35: self._nanosleep,
            230: self._clock_nanosleep,
            95: self._umask_call,
            100: self._times,
            80: self._chdir,
            81: self._fchdir,
            90: self._chmod,
            91: self._fchmod,
            268: self._fchmodat,
            280: self._utimensat,
            83: self._mkdir,
            258: self._mkdirat,
            84: self._rmdir,
            217: self._getdents64,
            89: self._readlink,
            267: self._readlinkat,
            76: self._truncate,
            77: self._ftruncate,
            97: self._getrlimit,
            302: self._prlimit64,
            98: self._getrusage,
            17: self._pread,
            18: self._pwrite,
            22: self._pipe,
            7: self._poll,
            271: self._ppoll,
            23: self._select,
            270: self._pselect6,
            293: self._pipe2,
            25: self._mremap,
        }

    def serve(self, number: int, handler: Callable[[Caller, tuple[int, ...]], int | None]) -> None:
        """Serve system call ``number`` with ``handler`` (the threads' calls; a result of None parks the caller)."""
        self._table[number] = handler

    def __call__(self, caller: Caller, number: int, args: tuple[int, ...]) -> int | None:
        handler = self._table.get(number)
        if handler is None:
            if self.note is not None and number not in self._noted:
                self._noted.add(number)
                self.note(f"{caller.name}: system call {number} is not implemented (ENOSYS)")
            return -ENOSYS
        try:
            return handler(caller, args)
        except TwzEmuError:
            return -EFAULT

    # -- memory, as the caller may touch it ------------------------------------------------------------------

    @staticmethod
    def _put(caller: Caller, address: int, data: bytes) -> bool:
        if not caller.space.user_may(address, len(data), Access.WRITE):
            return False
        caller.space.write_virtual(address, data)
        return True

    @staticmethod
    def _get(caller: Caller, address: int, length: int) -> bytes | None:
        if not caller.space.user_may(address, length, Access.READ):
            return None
        return caller.space.read_virtual(address, length)

    # -- calls ---------------------------------------------------------------------------------------------------

    def _path(self, caller: Caller, address: int) -> str | int:
        """A NUL-terminated path the caller may read (-errno otherwise)."""
        return read_string(caller.space, address, PATH_MAX)

    def _read(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        fd, buffer, length = args[0], args[1], min(args[2], MAX_IO)
        if not caller.space.user_may(buffer, length, Access.WRITE):
            return -EFAULT
        match self.files.entry(caller.name, fd):
            case Stream(number=0):
                data = self._read_stdin(length)
            case Description() as description:
                data = self.files.read(description, length)
            case PipeEnd() as end:
                data = drain(end, length)
                if data == -EAGAIN and not end.nonblocking:
                    return self._forever(f"reads the empty pipe {fd} of {caller.name}, which only it could fill")
            case Listing():
                return -EISDIR
            case _:
                return -EBADF
        if isinstance(data, int):
            return data
        caller.space.write_virtual(buffer, data)
        return len(data)

    def _read_stdin(self, length: int) -> bytes:
        if self.stdin is None or length == 0:
            return b""
        fileno = self._stdin_fileno()
        if fileno is not None:  # unbuffered, from the descriptor: poll and select then see all there is to read
            return os.read(fileno, length)
        read1 = getattr(self.stdin, "read1", None)
        return read1(length) if read1 is not None else self.stdin.read(length)

    def _stdin_fileno(self) -> int | None:
        """stdin's host descriptor (None: no stdin, or one held in memory)."""
        if self.stdin is None:
            return None
        try:
            return self.stdin.fileno()
        except (OSError, ValueError, AttributeError):
            return None

    def _write(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        entry = self.files.entry(caller.name, args[0])
        if entry is None or isinstance(entry, Listing):
            return -EBADF
        if isinstance(entry, Stream) and entry.number not in self.streams:
            return -EBADF
        data = self._get(caller, args[1], min(args[2], MAX_IO))
        if data is None:
            return -EFAULT
        match entry:
            case Description():
                return self.files.write(entry, data)
            case PipeEnd():
                full = len(data) > PIPE_CAPACITY - len(entry.pipe.data)
                if full and entry.writing and entry.pipe.readers and not entry.nonblocking:
                    return self._forever(f"writes to the full pipe {args[0]} of {caller.name}, which only it reads")
                return fill(entry, data)
            case Stream(number=number):
                stream = self.streams[number]
                stream.write(data)
                stream.flush()
                return len(data)

    def _pread(self, caller: Caller, args: tuple[int, ...]) -> int:
        """read at an offset, the file's own offset untouched."""
        return self._at_offset(caller, args, self._read)

    def _pwrite(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._at_offset(caller, args, self._write)

    def _at_offset(self, caller: Caller, args: tuple[int, ...], transfer: Callable[..., int]) -> int:
        """``transfer`` (read or write) at offset ``args[3]`` (with ``O_APPEND``, Linux's pwrite appends all the
        same)."""
        entry = self.files.entry(caller.name, args[0])
        if not isinstance(entry, Description):
            return -EBADF if entry is None else -ESPIPE
        if _signed(args[3]) < 0:
            return -EINVAL
        saved, entry.offset = entry.offset, args[3]
        try:
            return transfer(caller, args[:3])
        finally:
            entry.offset = saved

    def _forever(self, what: str) -> int | None:
        """A wait only another thread can end: the caller waits for one to have a turn, then makes the call again;
        with no other thread, the program stops (``twzemu: deadlock: ...``, status 134)."""
        if self.retry_later(what):
            return None
        self.deadlock(f"T{self.thread_id()} {what}")
        return -EINTR

    def _pipe(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._pipe2(caller, (args[0], 0))

    def _pipe2(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[1] & ~(O_NONBLOCK | O_CLOEXEC | O_DIRECT):
            return -EINVAL
        if not caller.space.user_may(args[0], 8, Access.WRITE):
            return -EFAULT
        ends = self.files.pipe(caller.name, nonblocking=bool(args[1] & O_NONBLOCK))
        if isinstance(ends, int):
            return ends
        for end in ends:
            self._marked(caller, end, args[1] & O_CLOEXEC)
        caller.space.write_virtual(args[0], struct.pack("<ii", *ends))
        return 0

    # -- paths: each call by a path is its *at call from the current directory (AT_FDCWD) ---------------------------

    def _at(self, caller: Caller, directory: int, address: int) -> str | int:
        """The path at ``address``, relative to the open directory ``directory`` unless AT_FDCWD or absolute."""
        path = self._path(caller, address)
        if isinstance(path, int) or _signed(directory) == AT_FDCWD or path.startswith("/"):
            return path
        entry = self.files.entry(caller.name, directory)
        if not isinstance(entry, Listing):
            return -EBADF if entry is None else -ENOTDIR
        return posixpath.join(entry.path, path) if path else path

    def _open(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._openat(caller, (AT_FDCWD, *args))

    def _openat(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._at(caller, args[0], args[1])
        if isinstance(path, int):
            return path
        return self._marked(caller, self.files.open(caller.name, path, args[2], args[3]), args[2] & O_CLOEXEC)

    def _marked(self, caller: Caller, fd: int, close_on_exec: int) -> int:
        """``fd`` (or -errno), marked close-on-exec if asked."""
        if fd >= 0 and close_on_exec:
            self.files.close_on_exec(caller.name, fd, True)
        return fd

    def _close(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self.files.close(caller.name, args[0])

    def _dup(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self.files.dup(caller.name, args[0])

    def _dup2(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self.files.dup(caller.name, args[0], target=args[1])

    def _dup3(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[0] == args[1] or args[2] & ~O_CLOEXEC:
            return -EINVAL
        return self._marked(caller, self.files.dup(caller.name, args[0], target=args[1]), args[2])

    def _stat_into(self, caller: Caller, address: int, status: Status) -> int:
        seconds, nanoseconds = divmod(status.modified_ns, 10**9)
        times = [seconds, nanoseconds] * 3
        fields = [0, status.inode, 1, status.mode, 0, 0, 0, 0, status.size, 4096, (status.size + 511) // 512]
        return 0 if self._put(caller, address, STAT.pack(*fields, *times, 0, 0, 0)) else -EFAULT

    def _fstat(self, caller: Caller, args: tuple[int, ...]) -> int:
        match self.files.entry(caller.name, args[0]):
            case None:
                return -EBADF
            case Stream(number=number):
                status = Status(S_IFCHR | 0o620, 0, number + 1)
            case Listing(path=path):
                status = Status(S_IFDIR | 0o755, 4096, 0)
                found = self.files.status(caller.name, path)
                status = found if not isinstance(found, int) else status
            case PipeEnd():
                status = Status(S_IFIFO | 0o600, 0, 0)
            case Description() as description:
                status = self.files.status_of(description)
        return self._stat_into(caller, args[1], status)

    def _stat(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._fstatat(caller, (AT_FDCWD, *args[:2], 0))

    def _fstatat(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[3] & AT_EMPTY_PATH and self._path(caller, args[1]) == "":
            return self._fstat(caller, (args[0], args[2]))
        path = self._at(caller, args[0], args[1])
        if isinstance(path, int):
            return path
        status = self.files.status(caller.name, path)
        return status if isinstance(status, int) else self._stat_into(caller, args[2], status)

    def _access(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._faccessat(caller, (AT_FDCWD, *args[:2]))

    def _faccessat(self, caller: Caller, args: tuple[int, ...]) -> int:
        """As for root (the guest's uid): reading and writing are allowed (writing not on a read-only mount),
        running needs an execute bit."""
        path = self._at(caller, args[0], args[1])
        if isinstance(path, int):
            return path
        status = self.files.status(caller.name, path)
        if isinstance(status, int):
            return status
        if args[2] & W_OK and self.files.read_only(caller.name, path):
            return -EROFS
        if args[2] & X_OK and not stat.S_ISDIR(status.mode) and not status.mode & 0o111:
            return -EACCES
        return 0

    def _unlink(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._unlinkat(caller, (AT_FDCWD, args[0], 0))

    def _unlinkat(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._at(caller, args[0], args[1])
        if isinstance(path, int):
            return path
        if args[2] & AT_REMOVEDIR:
            return self.files.remove_directory(caller.name, path)
        return self.files.unlink(caller.name, path)

    # -- directories -------------------------------------------------------------------------------------------

    def _mkdir(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._mkdirat(caller, (AT_FDCWD, *args[:2]))

    def _mkdirat(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._at(caller, args[0], args[1])
        return path if isinstance(path, int) else self.files.make_directory(caller.name, path, args[2])

    def _rmdir(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._unlinkat(caller, (AT_FDCWD, args[0], AT_REMOVEDIR))

    def _chdir(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._path(caller, args[0])
        return path if isinstance(path, int) else self.files.change_directory(caller.name, path)

    def _fchdir(self, caller: Caller, args: tuple[int, ...]) -> int:
        entry = self.files.entry(caller.name, args[0])
        if not isinstance(entry, Listing):
            return -EBADF if entry is None else -ENOTDIR
        return self.files.change_directory(caller.name, entry.path)

    def _chmod(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._fchmodat(caller, (AT_FDCWD, *args[:2]))

    def _fchmodat(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._at(caller, args[0], args[1])
        return path if isinstance(path, int) else self.files.change_mode(caller.name, path, args[2])

    def _fchmod(self, caller: Caller, args: tuple[int, ...]) -> int:
        match self.files.entry(caller.name, args[0]):
            case None:
                return -EBADF
            case Description() as description:
                return self.files.change_mode_of(caller.name, description, args[1])
            case Listing(path=path):
                return self.files.change_mode(caller.name, path, args[1])
            case _:
                return 0  # a stream's or a pipe's mode is nothing anyone reads

    def _utimensat(self, caller: Caller, args: tuple[int, ...]) -> int:
        """A path's times, or (no path) the open file's or directory's: two timespecs, or none for now."""
        times: list[int | None] = [time.time_ns()] * 2
        if args[2]:
            data = self._get(caller, args[2], 2 * TIMESPEC.size)
            if data is None:
                return -EFAULT
            for index in range(2):
                seconds, nanoseconds = TIMESPEC.unpack_from(data, index * TIMESPEC.size)
                if nanoseconds == UTIME_OMIT:
                    times[index] = None
                elif nanoseconds != UTIME_NOW:
                    if not 0 <= nanoseconds < 10**9:
                        return -EINVAL
                    times[index] = seconds * 10**9 + nanoseconds
        if args[1]:
            path = self._at(caller, args[0], args[1])
            if isinstance(path, int):
                return path
            return self.files.set_times(caller.name, path, times[0], times[1])
        match self.files.entry(caller.name, args[0]):
            case None:
                return -EBADF
            case Description() as description:
                return self.files.set_times(caller.name, description, times[0], times[1])
            case Listing(path=path):
                return self.files.set_times(caller.name, path, times[0], times[1])
            case _:
                return 0  # a stream's or a pipe's times are nothing anyone reads

    def _getdents64(self, caller: Caller, args: tuple[int, ...]) -> int:
        """As many of the directory's next entries as fit in the buffer (``struct linux_dirent64`` each)."""
        entry = self.files.entry(caller.name, args[0])
        if not isinstance(entry, Listing):
            return -EBADF if entry is None else -ENOTDIR
        if not caller.space.user_may(args[1], min(args[2], MAX_IO), Access.WRITE):
            return -EFAULT
        data = bytearray()
        while entry.position < len(entry.entries):
            name, directory = entry.entries[entry.position]
            encoded = name.encode("utf-8", "surrogateescape") + b"\0"
            length = (DIRENT.size + len(encoded) + 7) & ~7
            if len(data) + length > min(args[2], MAX_IO):
                break
            inode = zlib.crc32(f"{entry.path}/{name}".encode("utf-8", "surrogateescape")) + 1
            record = DIRENT.pack(inode, entry.position + 1, length, DT_DIR if directory else DT_REG) + encoded
            data += record.ljust(length, b"\0")
            entry.position += 1
        if not data and entry.position < len(entry.entries):
            return -EINVAL  # not even one entry fits
        caller.space.write_virtual(args[1], bytes(data))
        return len(data)

    def _readlink(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._readlinkat(caller, (AT_FDCWD, *args))

    def _readlinkat(self, caller: Caller, args: tuple[int, ...]) -> int:
        """No path is a symbolic link: -EINVAL for one that exists, -ENOENT otherwise (how musl's ``tmpnam``
        finds a free name)."""
        path = self._at(caller, args[0], args[1])
        if isinstance(path, int):
            return path
        status = self.files.status(caller.name, path)
        return status if isinstance(status, int) else -EINVAL

    def _truncate(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._path(caller, args[0])
        if isinstance(path, int):
            return path
        fd = self.files.open(caller.name, path, O_WRONLY)
        if fd < 0:
            return fd
        result = self._ftruncate(caller, (fd, args[1]))
        closed = self.files.close(caller.name, fd)
        return result or closed

    def _ftruncate(self, caller: Caller, args: tuple[int, ...]) -> int:
        entry = self.files.entry(caller.name, args[0])
        if entry is None:
            return -EBADF
        if not isinstance(entry, Description):
            return -EINVAL
        return self.files.truncate(entry, _signed(args[1]))

    def _rename(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._renameat(caller, (AT_FDCWD, args[0], AT_FDCWD, args[1]))

    def _renameat(self, caller: Caller, args: tuple[int, ...]) -> int:
        old, new = self._at(caller, args[0], args[1]), self._at(caller, args[2], args[3])
        if isinstance(old, int):
            return old
        return new if isinstance(new, int) else self.files.rename(caller.name, old, new)

    def _renameat2(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._renameat(caller, args) if args[4] == 0 else -EINVAL

    def _getcwd(self, caller: Caller, args: tuple[int, ...]) -> int:
        cwd = self.files.cwd(caller.name).encode("utf-8", "surrogateescape") + b"\0"
        if len(cwd) > args[1]:
            return -ERANGE
        return len(cwd) if self._put(caller, args[0], cwd) else -EFAULT

    def _mremap(self, caller: Caller, args: tuple[int, ...]) -> int:
        """Memory is never grown in place (the runtime's own mappings never reach here: musl's realloc then copies):
        ENOMEM where the old range is mapped, EFAULT where it is not, as Linux answers a probe (musl's
        pthread_getattr_np walks down the first thread's stack this way until EFAULT)."""
        address, old_size = args[0], max(args[1], 1)
        ends = (address, address + old_size - 1)  # its first and last byte: a walk of its pages could take seconds
        return -ENOMEM if all(caller.space.user_may(end, 1, Access.READ) for end in ends) else -EFAULT

    def _sync(self, caller: Caller, args: tuple[int, ...]) -> int:
        return 0 if self.files.entry(caller.name, args[0]) is not None else -EBADF

    def _lseek(self, caller: Caller, args: tuple[int, ...]) -> int:
        entry = self.files.entry(caller.name, args[0])
        if entry is None:
            return -EBADF
        if isinstance(entry, Stream | PipeEnd):
            return -ESPIPE
        if isinstance(entry, Listing):
            return self.files.rewind(entry, caller.name, _signed(args[1])) if args[2] == 0 else -EINVAL
        return self.files.seek(entry, _signed(args[1]), args[2])

    def _ioctl(self, caller: Caller, args: tuple[int, ...]) -> int:
        return -ENOTTY if self._sync(caller, args) == 0 else -EBADF

    def _fcntl(self, caller: Caller, args: tuple[int, ...]) -> int:
        """Duplicating (``F_DUPFD``), the descriptor's close-on-exec flag (kept, though nothing here execs), and
        the status flags: the access mode, ``O_APPEND``, a pipe's ``O_NONBLOCK``."""
        fd, command, argument = args[0], args[1], args[2]
        entry = self.files.entry(caller.name, fd)
        if entry is None:
            return -EBADF
        if command in (F_DUPFD, F_DUPFD_CLOEXEC):
            return self._marked(caller, self.files.dup(caller.name, fd, lowest=argument), command == F_DUPFD_CLOEXEC)
        if command == F_GETFD:
            return FD_CLOEXEC if self.files.close_on_exec(caller.name, fd) else 0
        if command == F_SETFD:
            self.files.close_on_exec(caller.name, fd, bool(argument & FD_CLOEXEC))
            return 0
        if command == F_GETFL:
            if isinstance(entry, Listing):
                return O_RDONLY | O_DIRECTORY
            if isinstance(entry, Stream):
                return O_RDONLY if entry.number == 0 else O_WRONLY
            if isinstance(entry, PipeEnd):
                return (O_WRONLY if entry.writing else O_RDONLY) | (O_NONBLOCK if entry.nonblocking else 0)
            mode = O_RDWR if entry.readable and entry.writable else O_WRONLY if entry.writable else O_RDONLY
            return mode | (O_APPEND if entry.append else 0)
        if command == F_SETFL:
            if isinstance(entry, Description):
                entry.append = bool(argument & O_APPEND)
            if isinstance(entry, PipeEnd):
                entry.nonblocking = bool(argument & O_NONBLOCK)
            return 0
        return -EINVAL

    def _umask_call(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self.files.umask(caller.name, args[0])

    def _times(self, caller: Caller, args: tuple[int, ...]) -> int:
        """``struct tms`` (the guest's CPU time as user time, in clock ticks of 100 Hz) and the ticks of the
        monotonic clock."""
        ticks = (time.process_time_ns() - self._started) // 10**7
        if args[0] and not self._put(caller, args[0], struct.pack("<qqqq", ticks, 0, 0, 0)):
            return -EFAULT
        return time.monotonic_ns() // 10**7

    # -- waiting for descriptors ---------------------------------------------------------------------------------

    def _poll(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        timeout = (args[2] & 0xFFFFFFFF ^ 0x80000000) - 0x80000000  # an int: negative waits for ever
        return self._poll_for(caller, args[0], args[1], None if timeout < 0 else timeout / 1000)

    def _ppoll(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        timeout = self._timeout(caller, args[2], TIMESPEC, 10**9)
        return timeout if isinstance(timeout, int) else self._poll_for(caller, args[0], args[1], timeout)

    def _poll_for(self, caller: Caller, address: int, count: int, timeout: float | None) -> int | None:
        """poll: ``count`` ``struct pollfd`` at ``address``."""
        if count > MAX_FILES:
            return -EINVAL
        table = self._get(caller, address, POLLFD.size * count)
        if table is None or not caller.space.user_may(address, POLLFD.size * count, Access.WRITE):
            return -EFAULT
        asked = [POLLFD.unpack_from(table, i * POLLFD.size) for i in range(count)]
        wanted = {fd: events | POLLERR | POLLHUP | POLLNVAL for fd, events, _ in asked if fd >= 0}
        ready = self._wait_ready(caller, wanted, timeout)
        if ready is None or isinstance(ready, int):
            return ready
        answer = b"".join(POLLFD.pack(fd, events, ready.get(fd, 0)) for fd, events, _ in asked)
        caller.space.write_virtual(address, answer)
        return sum(1 for fd, _, _ in asked if ready.get(fd, 0))

    def _select(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        timeout = self._timeout(caller, args[4], TIMEVAL, 10**6)
        return timeout if isinstance(timeout, int) else self._select_for(caller, args[:4], timeout)

    def _pselect6(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        timeout = self._timeout(caller, args[4], TIMESPEC, 10**9)
        return timeout if isinstance(timeout, int) else self._select_for(caller, args[:4], timeout)

    def _select_for(self, caller: Caller, args: tuple[int, ...], timeout: float | None) -> int | None:
        """select: three ``fd_set`` (a bit per descriptor below ``args[0]``), each read and written back."""
        count, addresses = _signed(args[0]), args[1:4]
        if not 0 <= count <= FD_SETSIZE:
            return -EINVAL
        size = (count + 63) // 64 * 8
        sets = []
        for address in addresses:
            data = self._get(caller, address, size) if address else bytes(size)
            if data is None or (address and not caller.space.user_may(address, size, Access.WRITE)):
                return -EFAULT
            sets.append(int.from_bytes(data, "little"))
        masks = (POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI)
        wanted: dict[int, int] = {}
        for bits, mask in zip(sets, masks, strict=True):
            for fd in range(count):
                if bits >> fd & 1:
                    wanted[fd] = wanted.get(fd, 0) | mask
        if any(self.files.entry(caller.name, fd) is None for fd in wanted):
            return -EBADF
        ready = self._wait_ready(caller, wanted, timeout)
        if ready is None or isinstance(ready, int):
            return ready
        total = 0
        for bits, mask, address in zip(sets, masks, addresses, strict=True):
            chosen = sum(1 << fd for fd in range(count) if bits >> fd & 1 and ready.get(fd, 0) & mask)
            total += chosen.bit_count()
            if address:
                caller.space.write_virtual(address, chosen.to_bytes(size, "little"))
        return total

    def _timeout(self, caller: Caller, address: int, layout: struct.Struct, per_second: int) -> float | int | None:
        """A timeval or timespec at ``address`` in seconds (None: no timeout; -errno)."""
        if not address:
            return None
        data = self._get(caller, address, layout.size)
        if data is None:
            return -EFAULT
        seconds, fraction = layout.unpack(data)
        if seconds < 0 or not 0 <= fraction < per_second:
            return -EINVAL
        return seconds + fraction / per_second

    def _wait_ready(self, caller: Caller, wanted: dict[int, int], timeout: float | None) -> dict[int, int] | int | None:
        """Each wanted descriptor's ready events, once one is ready or ``timeout`` (seconds) has passed. Only the
        host's stdin can become ready by itself: without it in the set, a wait with no timeout is a deadlock."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            ready = {fd: self._ready(caller, fd) & mask for fd, mask in wanted.items()}
            if any(ready.values()) or (end is not None and time.monotonic() >= end) or self.stopping():
                return ready
            stdin = self._stdin_waited(caller, wanted)
            if end is None and stdin is None:
                return self._forever(f"waits for descriptors of {caller.name} that nothing else can make ready")
            slice_ = SLEEP_SLICE if end is None else max(0.0, min(SLEEP_SLICE, end - time.monotonic()))
            if stdin is not None:
                select.select([stdin], [], [], slice_)
            else:
                time.sleep(slice_)

    def _stdin_waited(self, caller: Caller, wanted: dict[int, int]) -> int | None:
        """The host descriptor of stdin, if one of the wanted descriptors reads it."""
        for fd, mask in wanted.items():
            entry = self.files.entry(caller.name, fd)
            if isinstance(entry, Stream) and entry.number == 0 and mask & POLLIN:
                return self._stdin_fileno()
        return None

    def _ready(self, caller: Caller, fd: int) -> int:
        """What ``fd`` could do now without waiting (``POLLNVAL`` for no descriptor)."""
        match self.files.entry(caller.name, fd):
            case None:
                return POLLNVAL
            case Stream(number=0):
                return POLLIN if self._stdin_ready() else 0
            case Stream():
                return POLLOUT
            case Listing():
                return POLLIN
            case Description():
                return POLLIN | POLLOUT
            case PipeEnd(writing=True) as end:
                if not end.pipe.readers:
                    return POLLERR
                return POLLOUT if len(end.pipe.data) < PIPE_CAPACITY else 0
            case PipeEnd() as end:
                return (POLLIN if end.pipe.data else 0) | (POLLHUP if not end.pipe.writers else 0)
        return 0

    def _stdin_ready(self) -> bool:
        """Whether a read of stdin would not wait: no stdin (end of file), one in memory, or the host says so (stdin
        is read unbuffered from its descriptor, so the host knows all there is)."""
        fileno = self._stdin_fileno()
        return fileno is None or bool(select.select([fileno], [], [], 0)[0])

    # -- limits and usage ------------------------------------------------------------------------------------

    def _getrlimit(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._prlimit64(caller, (0, args[0], 0, args[1]))

    def _prlimit64(self, caller: Caller, args: tuple[int, ...]) -> int:
        """The limits the monitor keeps (a guest stack's size, the descriptors a compartment may hold); no
        other limit exists, and none may be changed."""
        pid, resource, new, old = args[0], args[1], args[2], args[3]
        if pid not in (0, 1):
            return -ESRCH
        if new:
            return -EPERM
        limit = {RLIMIT_STACK: STACK_SIZE, RLIMIT_NOFILE: MAX_FILES}.get(resource, RLIM_INFINITY)
        if not 0 <= resource < 16:
            return -EINVAL
        return 0 if not old or self._put(caller, old, struct.pack("<QQ", limit, limit)) else -EFAULT

    def _getrusage(self, caller: Caller, args: tuple[int, ...]) -> int:
        """The guest's CPU time as user time (struct rusage: two timevals, then 14 longs)."""
        if _signed(args[0]) not in (0, -1, 1):  # RUSAGE_SELF, _CHILDREN, _THREAD
            return -EINVAL
        used = 0 if _signed(args[0]) == -1 else time.process_time_ns() - self._started
        seconds, nanoseconds = divmod(used, 10**9)
        usage = struct.pack("<qqqq", seconds, nanoseconds // 1000, 0, 0) + bytes(14 * 8)
        return 0 if self._put(caller, args[1], usage) else -EFAULT

    # -- sleeping -----------------------------------------------------------------------------------------------

    def _nanosleep(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        return self._sleep(caller, args[0], absolute_clock=None)

    def _clock_nanosleep(self, caller: Caller, args: tuple[int, ...]) -> int | None:
        clock = CLOCKS.get(args[0])
        if clock is None:
            return -EINVAL
        return self._sleep(caller, args[2], absolute_clock=clock if args[1] & TIMER_ABSTIME else None)

    def _sleep(self, caller: Caller, request: int, absolute_clock: int | None) -> int | None:
        """Sleep for (or, on ``absolute_clock``, until) the timespec at ``request``; the run's deadline or Ctrl-C
        ends it early (the machine stops when this returns)."""
        data = self._get(caller, request, TIMESPEC.size)
        if data is None:
            return -EFAULT
        seconds, nanoseconds = TIMESPEC.unpack(data)
        if seconds < 0 or not 0 <= nanoseconds < 10**9:
            return -EINVAL
        length = seconds + nanoseconds / 1e9
        if absolute_clock is not None:
            length -= time.clock_gettime(absolute_clock)
        return self.sleep_until(time.monotonic() + max(length, 0.0))

    def _sleep_here(self, end: float) -> int | None:
        """Sleep on the host until ``end`` (monotonic), in slices: the run's deadline or Ctrl-C ends it early."""
        while (left := end - time.monotonic()) > 0 and not self.stopping():
            time.sleep(min(left, SLEEP_SLICE))
        return 0

    def _uname(self, caller: Caller, args: tuple[int, ...]) -> int:
        fields = (b"Twizzler", b"twzemu", b"0.1", b"twzemu monitor", b"x86_64", b"")
        data = b"".join(field.ljust(65, b"\0") for field in fields)
        return 0 if self._put(caller, args[0], data) else -EFAULT

    def _arch_prctl(self, caller: Caller, args: tuple[int, ...]) -> int:
        """Only the monitor sets FS: a compartment may set it to its own thread pointer, nothing else."""
        code, address = args[0], args[1]
        if code == ARCH_SET_FS:
            return 0 if address == caller.thread_pointer else -EPERM
        if code == ARCH_GET_FS:
            return 0 if self._put(caller, address, struct.pack("<Q", caller.thread_pointer)) else -EFAULT
        return -EINVAL

    def _clock_gettime(self, caller: Caller, args: tuple[int, ...]) -> int:
        clock = CLOCKS.get(args[0])
        if clock is None:
            return -EINVAL
        nanoseconds = time.clock_gettime_ns(clock)
        if args[0] == 2:  # the process's CPU clock: the guest's run, not the emulator's start-up
            nanoseconds -= self._started
        return 0 if self._put(caller, args[1], TIMESPEC.pack(*divmod(nanoseconds, 10**9))) else -EFAULT

    def _clock_getres(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[0] not in CLOCKS:
            return -EINVAL
        return 0 if not args[1] or self._put(caller, args[1], TIMESPEC.pack(0, 1)) else -EFAULT

    def _gettimeofday(self, caller: Caller, args: tuple[int, ...]) -> int:
        seconds, nanoseconds = divmod(time.time_ns(), 10**9)
        if args[0] and not self._put(caller, args[0], TIMESPEC.pack(seconds, nanoseconds // 1000)):
            return -EFAULT
        return 0

    def _time(self, caller: Caller, args: tuple[int, ...]) -> int:
        now = int(time.time())
        if args[0] and not self._put(caller, args[0], struct.pack("<q", now)):
            return -EFAULT
        return now

    def _getrandom(self, caller: Caller, args: tuple[int, ...]) -> int:
        length = min(args[1], 256)
        return length if self._put(caller, args[0], os.urandom(length)) else -EFAULT


def read_string(space: AddressSpace, address: int, limit: int) -> str | int:
    """The NUL-terminated string at ``address``, as code of ``space`` may read it: -EFAULT where it may not,
    -ENAMETOOLONG past ``limit`` bytes."""
    text = b""
    while len(text) < limit:
        chunk = 256 - (address + len(text)) % 256
        if not space.user_may(address + len(text), chunk, Access.READ):
            return -EFAULT
        part = space.read_virtual(address + len(text), chunk)
        end = part.find(b"\0")
        if end >= 0:
            return (text + part[:end]).decode("utf-8", "surrogateescape")
        text += part
    return -ENAMETOOLONG


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
