"""Pipes within a compartment: the bytes in flight and the two ends' descriptors (``Files.pipe`` makes them, the
system-call service reads and writes them; a wait no other thread can end is the service's to report)."""

from __future__ import annotations

from dataclasses import dataclass, field

PIPE_CAPACITY = 65536  # bytes a pipe holds, as Linux's default
EBADF, EAGAIN, EPIPE = 9, 11, 32


@dataclass(slots=True)
class Pipe:
    """A pipe's bytes in flight (at most ``PIPE_CAPACITY``), and how many descriptors hold each end."""

    data: bytearray = field(default_factory=bytearray)
    readers: int = 1
    writers: int = 1


@dataclass(slots=True)
class PipeEnd:
    """One end of a pipe: what its descriptors (``refs`` of them) share."""

    pipe: Pipe
    writing: bool
    nonblocking: bool = False
    refs: int = 1


def drain(end: PipeEnd, length: int) -> bytes | int:
    """Up to ``length`` bytes from the pipe; b"" at its end (no writer left); -EAGAIN when it is empty and a
    writer could still fill it (the caller decides whether that is waiting for ever)."""
    if end.writing:
        return -EBADF
    pipe = end.pipe
    if not pipe.data:
        return b"" if pipe.writers == 0 or length == 0 else -EAGAIN
    data = bytes(pipe.data[:length])
    del pipe.data[:length]
    return data


def fill(end: PipeEnd, data: bytes) -> int:
    """How many bytes went in (as many as fit); -EPIPE with no reader left; -EAGAIN when it is full."""
    if not end.writing:
        return -EBADF
    pipe = end.pipe
    if pipe.readers == 0:
        return -EPIPE
    room = PIPE_CAPACITY - len(pipe.data)
    if room == 0 and data:
        return -EAGAIN
    pipe.data += data[:room]
    return min(room, len(data))


def release(end: PipeEnd) -> None:
    """``end``'s last descriptor is closed: a reader then sees the end, a writer EPIPE."""
    if end.writing:
        end.pipe.writers -= 1
    else:
        end.pipe.readers -= 1
