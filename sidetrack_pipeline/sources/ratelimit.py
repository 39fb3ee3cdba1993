"""A request-rate limit shared by every process on the machine (Dagster runs several at once).

MusicBrainz allows about one request per second per IP and answers more with 503s (and bans
persistent offenders); a limit kept inside one process does not hold when two runs resolve at
the same time. `RateLimiter` keeps the *next allowed time* of a named limit in a small file and
serialises access to it with an exclusive `flock`. Two ways to use it:

* `with limiter.slot(): send()` — the strict one: the lock is held while the request is sent and
  answered, and the next slot is booked `interval_s` after the answer. Whatever the latency or a
  process pause, two requests never reach the server less than `interval_s` apart.
* `limiter.wait(); send()` — books the next slot when it returns; the spacing at the server then
  holds only up to the (usually tiny) time between `wait` returning and the request arriving.

`penalise` pushes the next allowed time out (a 503, a Retry-After, a rate-limit reset) for
everyone.

The files live in $SIDETRACK_HOME/ratelimit (or `lock_dir`). Wall-clock time is used because
monotonic clocks are not comparable between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class RateLimiter:
    def __init__(self, name: str, interval_s: float, lock_dir: str | Path | None = None):
        if interval_s < 0:
            raise ValueError("interval_s must be >= 0")
        if lock_dir is None:
            from sidetrack_pipeline.settings import get_settings

            lock_dir = get_settings().home / "ratelimit"
        self.name = name
        self.interval_s = float(interval_s)
        self.path = Path(lock_dir) / f"{name}.next"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _file(self) -> Iterator[int]:
        """The limit's file, locked exclusively until the block ends."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _read(fd: int) -> float:
        raw = os.pread(fd, 64, 0).decode().strip()
        try:
            return float(raw) if raw else 0.0
        except ValueError:  # a torn or foreign file: start afresh
            return 0.0

    @staticmethod
    def _write(fd: int, next_allowed: float) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, repr(next_allowed).encode(), 0)

    def _locked(self, update) -> float:
        with self._file() as fd:
            result, new_value = update(self._read(fd))
            self._write(fd, new_value)
            return result

    def wait(self) -> float:
        """Block until this caller may send one request; returns the seconds slept."""
        def book(next_allowed: float) -> tuple[float, float]:
            delay = max(0.0, next_allowed - time.time())
            if delay:
                time.sleep(delay)  # holding the lock: the others queue behind us
            return delay, time.time() + self.interval_s
        return self._locked(book)

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        """Hold the limit for one request: yields the seconds waited; the next slot opens
        `interval_s` after the block ends (see the module docstring)."""
        with self._file() as fd:
            delay = max(0.0, self._read(fd) - time.time())
            if delay:
                time.sleep(delay)
            try:
                yield delay
            finally:
                self._write(fd, time.time() + self.interval_s)

    def penalise(self, seconds: float) -> None:
        """Nobody sends before `seconds` from now (on top of the normal spacing)."""
        self._locked(lambda stored: (0.0, max(stored, time.time() + max(0.0, seconds))))
