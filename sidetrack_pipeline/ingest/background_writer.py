"""Run the database half of an import on a second thread, so parsing and PostgreSQL overlap.

psycopg2 releases the GIL while it waits for the server, so while PostgreSQL inserts one chunk
the main thread parses the next. The queue holds at most `depth` chunks, which bounds memory.
Work items run strictly in order on one thread, the only one using the connection until
`close()` returns; an error there stops the import and is raised in the main thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class BackgroundWriter:
    def __init__(self, work: Callable[[object], None], depth: int = 2):
        self._work = work
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is None and not self._abandon.is_set():
                try:
                    self._work(item)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    self._error = exc

    def _put(self, item: object) -> None:
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def submit(self, item: object) -> None:
        """Queue `item` for `work`; raises the writer's error if it has failed."""
        self._put(item)

    def close(self) -> None:
        """Wait until every queued item is written; raise the writer's error if any."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        # The main thread failed: skip what is queued, let the running item finish (the
        # connection must be free before the caller rolls back), and keep the original error.
        self._abandon.set()
        self._queue.put(_STOP)
        self._thread.join()
