"""Stops a running guest on a time limit or Ctrl-C.

While the guest runs, the main thread sits inside ``uc_emu_start`` (C) and Python signal handlers do not run
until some hook re-enters Python — a tight guest loop never does. So a helper thread waits on a pipe that
receives the signal number from CPython's C-level handler (``signal.set_wakeup_fd``) and on the deadline, and
calls ``uc_emu_stop``, which Unicorn allows from another thread (its own timeout works that way).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType

from .events import Stop, StopReason

_FINISHED = b"\xff"


class Watchdog:
    """Context manager around one ``Machine.run``; ``stop`` tells whether and why it fired."""

    def __init__(self, stop: Callable[[StopReason], None], timeout: float | None) -> None:
        self._request = stop
        self._timeout = timeout
        self.stop: Stop | None = None
        self._thread: threading.Thread | None = None
        self._reader: int | None = None  # a pipe's ends (not a socket pair: importing socket costs start-up)
        self._writer: int | None = None
        self._restore: Callable[[], None] | None = None

    def __enter__(self) -> Watchdog:
        self._reader, self._writer = os.pipe()
        os.set_blocking(self._writer, False)
        if threading.current_thread() is threading.main_thread():
            self._restore = self._route_sigint(self._writer)
        elif self._timeout is None:
            return self  # nothing to watch for off the main thread without a deadline
        self._thread = threading.Thread(target=self._watch, name="twzemu-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        assert self._writer is not None and self._reader is not None
        with contextlib.suppress(OSError):
            os.write(self._writer, _FINISHED)
        if self._thread is not None:
            self._thread.join()
        if self._restore is not None:
            self._restore()
        os.close(self._writer)
        os.close(self._reader)

    @staticmethod
    def _route_sigint(fd: int) -> Callable[[], None]:
        def note(_signum: int, _frame: FrameType | None) -> None:
            """Python-level SIGINT handler: the watchdog already stops the guest; raise nothing in a hook."""

        previous_handler = signal.signal(signal.SIGINT, note)
        previous_fd = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)

        def restore() -> None:
            signal.set_wakeup_fd(previous_fd)
            signal.signal(signal.SIGINT, previous_handler)

        return restore

    def _watch(self) -> None:
        assert self._reader is not None
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._reader], [], [], wait)
            if not ready:
                self._fire(StopReason.TIMEOUT)
                return
            data = os.read(self._reader, 64)
            if _FINISHED in data or not data:
                return
            if signal.SIGINT in data:
                self._fire(StopReason.INTERRUPTED)
                return

    def _fire(self, reason: StopReason) -> None:
        self.stop = Stop(reason)
        self._request(reason)
