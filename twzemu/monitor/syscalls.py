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
import struct
import time
from collections.abc import Callable
from typing import BinaryIO, Protocol

from ..errors import TwzEmuError
from ..mmu.space import Access, AddressSpace
from .files import S_IFREG, Files

# errno values (Linux, asm-generic/errno-base.h)
EPERM, ENOENT, EBADF, EFAULT, EINVAL, ENOTTY, ESPIPE, ERANGE, ENOSYS, ENAMETOOLONG = 1, 2, 9, 14, 22, 25, 29, 34, 38, 36
AT_FDCWD = -100
PATH_MAX = 4096
MAX_IO = 1 << 20  # bytes one read or write moves at most
STANDARD_STREAMS = (0, 1, 2)
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
# struct stat (x86-64): dev, ino, nlink, mode, uid, gid, pad, rdev, size, blksize, blocks, 3 timespecs, 3 reserved
STAT = struct.Struct("<QQQIIIiQqqq" + "qq" * 3 + "qqq")


class Caller(Protocol):
    """The compartment served: its name, its page tables, and its thread pointer (what arch_prctl may set)."""

    name: str
    space: AddressSpace
    thread_pointer: int


class SystemCalls:
    """``SystemCalls(...)(caller, n, args)`` -> the result a Linux kernel would give (``-errno`` on failure)."""

    def __init__(self, stdin: BinaryIO | None, files: Files, note: Callable[[str], None] | None = None) -> None:
        self.stdin = stdin
        self.files = files
        self.note = note  # --verbose: told each unknown call once
        self._noted: set[int] = set()
        self._table: dict[int, Callable[[Caller, tuple[int, ...]], int]] = {
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
        }

    def __call__(self, caller: Caller, number: int, args: tuple[int, ...]) -> int:
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
        text = b""
        while len(text) < PATH_MAX:
            chunk = 256 - (address + len(text)) % 256
            part = self._get(caller, address + len(text), chunk)
            if part is None:
                return -EFAULT
            end = part.find(b"\0")
            if end >= 0:
                return (text + part[:end]).decode("utf-8", "surrogateescape")
            text += part
        return -ENAMETOOLONG

    def _read(self, caller: Caller, args: tuple[int, ...]) -> int:
        fd, buffer, length = args[0], args[1], min(args[2], MAX_IO)
        if not caller.space.user_may(buffer, length, Access.WRITE):
            return -EFAULT
        if fd == 0:
            data: bytes | int = self._read_stdin(length)
        else:
            description = self.files.description(caller.name, fd)
            if description is None:
                return -EBADF
            data = self.files.read(description, length)
        if isinstance(data, int):
            return data
        caller.space.write_virtual(buffer, data)
        return len(data)

    def _read_stdin(self, length: int) -> bytes:
        if self.stdin is None or length == 0:
            return b""
        read1 = getattr(self.stdin, "read1", None)
        return read1(length) if read1 is not None else self.stdin.read(length)

    def _write(self, caller: Caller, args: tuple[int, ...]) -> int:
        description = self.files.description(caller.name, args[0])
        if description is None:
            return -EBADF
        data = self._get(caller, args[1], min(args[2], MAX_IO))
        return -EFAULT if data is None else self.files.write(description, data)

    def _open(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._path(caller, args[0])
        return path if isinstance(path, int) else self.files.open(caller.name, path, args[1])

    def _openat(self, caller: Caller, args: tuple[int, ...]) -> int:
        if _signed(args[0]) != AT_FDCWD:
            return -EBADF
        return self._open(caller, args[1:])

    def _close(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[0] in STANDARD_STREAMS:
            return 0
        return self.files.close(caller.name, args[0])

    def _stat_into(self, caller: Caller, address: int, mode: int, size: int) -> int:
        fields = [0, 0, 1, mode, 0, 0, 0, 0, size, 4096, (size + 511) // 512] + [0] * 9
        return 0 if self._put(caller, address, STAT.pack(*fields)) else -EFAULT

    def _fstat(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[0] in STANDARD_STREAMS:
            return self._stat_into(caller, args[1], S_IFCHR | 0o620, 0)
        description = self.files.description(caller.name, args[0])
        if description is None:
            return -EBADF
        return self._stat_into(caller, args[1], S_IFREG | 0o644, len(description.content.data))

    def _stat(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._path(caller, args[0])
        if isinstance(path, int):
            return path
        size = self.files.size(caller.name, path)
        return size if size < 0 else self._stat_into(caller, args[1], S_IFREG | 0o644, size)

    def _fstatat(self, caller: Caller, args: tuple[int, ...]) -> int:
        if _signed(args[0]) != AT_FDCWD:
            return self._fstat(caller, (args[0], args[2])) if args[1] == 0 else -EBADF
        return self._stat(caller, args[1:])

    def _access(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._path(caller, args[0])
        if isinstance(path, int):
            return path
        size = self.files.size(caller.name, path)
        return size if size < 0 else 0

    def _faccessat(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._access(caller, args[1:]) if _signed(args[0]) == AT_FDCWD else -EBADF

    def _unlink(self, caller: Caller, args: tuple[int, ...]) -> int:
        path = self._path(caller, args[0])
        return path if isinstance(path, int) else self.files.unlink(caller.name, path)

    def _unlinkat(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._unlink(caller, args[1:]) if _signed(args[0]) == AT_FDCWD else -EBADF

    def _rename(self, caller: Caller, args: tuple[int, ...]) -> int:
        old, new = self._path(caller, args[0]), self._path(caller, args[1])
        if isinstance(old, int):
            return old
        return new if isinstance(new, int) else self.files.rename(caller.name, old, new)

    def _renameat(self, caller: Caller, args: tuple[int, ...]) -> int:
        if _signed(args[0]) != AT_FDCWD or _signed(args[2]) != AT_FDCWD:
            return -EBADF
        return self._rename(caller, (args[1], args[3]))

    def _renameat2(self, caller: Caller, args: tuple[int, ...]) -> int:
        return self._renameat(caller, args) if args[4] == 0 else -EINVAL

    def _getcwd(self, caller: Caller, args: tuple[int, ...]) -> int:
        cwd = self.files.cwd.encode() + b"\0"
        if len(cwd) > args[1]:
            return -ERANGE
        return len(cwd) if self._put(caller, args[0], cwd) else -EFAULT

    def _sync(self, caller: Caller, args: tuple[int, ...]) -> int:
        ok = args[0] in STANDARD_STREAMS or self.files.description(caller.name, args[0]) is not None
        return 0 if ok else -EBADF

    def _lseek(self, caller: Caller, args: tuple[int, ...]) -> int:
        if args[0] in STANDARD_STREAMS:
            return -ESPIPE
        description = self.files.description(caller.name, args[0])
        if description is None:
            return -EBADF
        return self.files.seek(description, _signed(args[1]), args[2])

    def _ioctl(self, caller: Caller, args: tuple[int, ...]) -> int:
        return -ENOTTY if self._sync(caller, args) == 0 else -EBADF

    def _fcntl(self, caller: Caller, args: tuple[int, ...]) -> int:
        return 0 if self._sync(caller, args) == 0 else -EBADF

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


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
