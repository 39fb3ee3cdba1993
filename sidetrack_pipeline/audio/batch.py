"""Analyse many files in worker processes; one bad file never stops the batch.

The pool is our own, on `multiprocessing` (spawn context), because
`concurrent.futures.ProcessPoolExecutor` can neither kill one hung task nor survive one worker's
death (the whole pool breaks). Here each worker holds one file at a time with a deadline:

* the analysis raises         -> an error result; the worker carries on.
* MemoryError (RLIMIT_AS)     -> an error result; the worker is replaced (its heap may be a mess).
* no answer by the deadline   -> the worker's process group (with any ffmpeg it started) is
                                 SIGKILLed, the file gets a timeout error, a new worker starts.
* the worker dies (segfault in a native decoder, os._exit, the OOM killer)
                              -> that file gets an error naming the signal and the worker's last
                                 words; a new worker takes over the rest of the batch.

Limits (see `guard`): ANALYSIS_TIMEOUT_SECONDS, ANALYSIS_MEMORY_MB, MAX_ANALYSIS_SECONDS, each
overridable per call. Workers write their stdout/stderr to a log file of their own, so a CLI's
stdout stays clean JSON and a crash's last lines (Python's faulthandler) reach the error.
"""

from __future__ import annotations

import collections
import faulthandler
import importlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterable, Iterator

from sidetrack_pipeline.audio import guard
from sidetrack_pipeline.fsutil import temporary_env

AnalyzeFn = Callable[[str, float], dict]
"""(path, excerpt_seconds) -> features; must be a module-level function (it is pickled)."""

_STARTUP_TIMEOUT_S = 120.0  # spawning Python and importing Essentia takes a few seconds
_MAX_STARTUP_FAILURES = 3  # consecutive workers that die before they are ready: give up
_SHUTDOWN_GRACE_S = 2.0
_FEATURES_MODULE = "sidetrack_pipeline.audio.features"


@dataclass(frozen=True)
class AnalysisResult:
    path: str
    features: dict | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def analyze_path(path: str, excerpt_seconds: float) -> dict:
    """The default per-file analysis: `features.analyze_file` (runs inside a worker)."""
    from sidetrack_pipeline.audio.features import analyze_file

    return analyze_file(path, excerpt_seconds=excerpt_seconds)


def analyze_many(paths: Iterable[str], workers: int = 2, excerpt_seconds: float = 0.0,
                 timeout_per_file: float | None = None,
                 on_result: Callable[[AnalysisResult], None] | None = None, *,
                 max_seconds: float | None = None, memory_mb: int | None = None,
                 analyze_fn: AnalyzeFn | None = None,
                 ordered: bool = False) -> Iterator[AnalysisResult]:
    """Yield one AnalysisResult per path, analysing up to `workers` files at once.

    Results come in completion order, or in input order with `ordered=True`; `on_result` is
    called for each as soon as it completes (progress bars). `timeout_per_file` (seconds),
    `max_seconds` (longest decoded window) and `memory_mb` (address space per worker) default
    to ANALYSIS_TIMEOUT_SECONDS, MAX_ANALYSIS_SECONDS and ANALYSIS_MEMORY_MB; 0 turns a limit
    off. `analyze_fn` replaces the analysis itself (a module-level function, for tests and
    other analysers). Closing the iterator early stops and reaps every worker."""
    paths = [str(p) for p in paths]
    if not paths:
        return
    env = guard.AnalysisLimits.from_env()
    limits = guard.AnalysisLimits(
        max_seconds=env.max_seconds if max_seconds is None else max_seconds,
        timeout_s=env.timeout_s if timeout_per_file is None else timeout_per_file,
        memory_mb=env.memory_mb if memory_mb is None else memory_mb)
    pool = _Pool(max(1, int(workers)), limits, analyze_fn or analyze_path,
                 warm_up=analyze_fn is None, excerpt_seconds=excerpt_seconds)
    pending: dict[int, AnalysisResult] = {}
    next_index = 0
    try:
        for index, result in pool.run(paths):
            if on_result is not None:
                on_result(result)
            if not ordered:
                yield result
                continue
            pending[index] = result
            while next_index in pending:
                yield pending.pop(next_index)
                next_index += 1
    finally:
        pool.close()


# --------------------------------------------------------------------------- parent side

@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    log_path: str
    started: float
    ready: bool = False
    task: tuple[int, str] | None = None
    deadline: float | None = None


class _Pool:
    """Workers, the queue of (index, path) tasks, and the event loop that ties them."""

    def __init__(self, size: int, limits: guard.AnalysisLimits, analyze_fn: AnalyzeFn,
                 warm_up: bool, excerpt_seconds: float) -> None:
        self.size = size
        self.limits = limits
        self.analyze_fn = analyze_fn
        self.warm_up = warm_up
        self.excerpt_seconds = excerpt_seconds
        self.ctx = multiprocessing.get_context("spawn")  # never fork a threaded parent (Dagster)
        self.workers: list[_Worker] = []
        self.log_dir = tempfile.mkdtemp(prefix="sidetrack-analysis-")
        self.spawned = 0
        self.startup_failures = 0
        self.startup_error = ""

    # -- main loop

    def run(self, paths: list[str]) -> Iterator[tuple[int, AnalysisResult]]:
        queue = collections.deque(enumerate(paths))
        while True:
            if queue and self.startup_failures >= _MAX_STARTUP_FAILURES:
                yield from self._fail_all(queue)
            if not queue and not any(w.task for w in self.workers):
                return
            self._top_up(len(queue))
            self._assign(queue)
            yield from self._wait_and_collect()

    def _top_up(self, queued: int) -> None:
        busy = sum(1 for w in self.workers if w.task)
        wanted = min(self.size, busy + queued)
        while len(self.workers) < wanted:
            self.workers.append(self._start_worker())

    def _assign(self, queue: collections.deque) -> None:
        for worker in self.workers:
            if not queue:
                return
            if worker.ready and worker.task is None:
                index, path = queue.popleft()
                worker.conn.send((index, path, self.excerpt_seconds))
                worker.task = (index, path)
                timeout = self.limits.timeout_s
                worker.deadline = time.monotonic() + timeout if timeout > 0 else None

    def _wait_and_collect(self) -> Iterator[tuple[int, AnalysisResult]]:
        handles = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
        if handles:
            wait(handles, timeout=self._next_deadline())
        now = time.monotonic()
        for worker in list(self.workers):
            yield from self._drain(worker)
            if worker not in self.workers:
                continue
            if not worker.process.is_alive():
                yield from self._on_death(worker)
            elif worker.task and worker.deadline is not None and now >= worker.deadline:
                yield from self._on_timeout(worker)
            elif not worker.ready and now >= worker.started + _STARTUP_TIMEOUT_S:
                self._remove(worker, kill=True)
                self._startup_failed(f"not ready after {_STARTUP_TIMEOUT_S:.0f} s")

    def _next_deadline(self) -> float | None:
        deadlines = [w.deadline for w in self.workers if w.task and w.deadline is not None]
        deadlines += [w.started + _STARTUP_TIMEOUT_S for w in self.workers if not w.ready]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    # -- events

    def _drain(self, worker: _Worker) -> Iterator[tuple[int, AnalysisResult]]:
        """Handle every message the worker has sent; a closed pipe is left to `_on_death`."""
        while True:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "ready":
                worker.ready = True
                self.startup_failures = 0
            elif kind == "failed":
                self._remove(worker, kill=True)
                self._startup_failed(message[1])
                return
            elif kind == "done":
                _, index, features, error, retire = message
                path = worker.task[1]
                worker.task, worker.deadline = None, None
                if retire:  # it exits after a MemoryError: never hand it another file
                    self._remove(worker, kill=True)
                yield index, AnalysisResult(path, features, error)
                if retire:
                    return

    def _on_death(self, worker: _Worker) -> Iterator[tuple[int, AnalysisResult]]:
        worker.process.join(5)
        code = worker.process.exitcode
        task, ready = worker.task, worker.ready
        tail = guard.log_tail(worker.log_path)
        self._remove(worker, kill=True)
        if task is not None:
            index, path = task
            error = (f"WorkerCrashed: the analysis worker died ({guard.describe_exit(code)}) "
                     "while analysing this file, which probably crashes a native decoder or "
                     "analyser" + (f"; its last output: {tail}" if tail else ""))
            yield index, AnalysisResult(path, None, error)
        elif not ready:
            self._startup_failed(f"{guard.describe_exit(code)}" + (f": {tail}" if tail else ""))
        # an idle, ready worker that exits was retiring (after a MemoryError): nothing to report

    def _on_timeout(self, worker: _Worker) -> Iterator[tuple[int, AnalysisResult]]:
        index, path = worker.task
        self._remove(worker, kill=True)
        error = (f"AnalysisTimeout: analysis did not finish within {self.limits.timeout_s:g} s "
                 "(ANALYSIS_TIMEOUT_SECONDS); the worker was killed")
        yield index, AnalysisResult(path, None, error)

    def _startup_failed(self, reason: str) -> None:
        self.startup_failures += 1
        self.startup_error = reason

    def _fail_all(self, queue: collections.deque) -> Iterator[tuple[int, AnalysisResult]]:
        error = (f"WorkerStartError: analysis workers keep failing to start "
                 f"({self.startup_error})")
        while queue:
            index, path = queue.popleft()
            yield index, AnalysisResult(path, None, error)

    # -- worker lifecycle

    def _start_worker(self) -> _Worker:
        self.spawned += 1
        log_path = os.path.join(self.log_dir, f"worker-{self.spawned}.log")
        parent_conn, child_conn = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(
            target=_worker_main, name=f"sidetrack-analysis-{self.spawned}", daemon=True,
            args=(child_conn, log_path, self.limits.memory_mb, self.analyze_fn, self.warm_up))
        with temporary_env(self._worker_env()):  # spawned children inherit it
            process.start()
        child_conn.close()  # so that the parent sees EOF when the worker dies
        return _Worker(process, parent_conn, log_path, time.monotonic())

    def _worker_env(self) -> dict[str, str]:
        """Set in the environment the worker is spawned with: numpy reads its thread count at
        import, which happens before any worker code runs (importing this package does it)."""
        env = self.limits.as_env()
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, os.environ.get(name, "1"))
        return env

    def _remove(self, worker: _Worker, kill: bool) -> None:
        if kill:
            _kill(worker.process)
        worker.conn.close()
        if worker in self.workers:
            self.workers.remove(worker)

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy or deaf ones are killed."""
        for worker in list(self.workers):
            if worker.task is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + _SHUTDOWN_GRACE_S
        for worker in list(self.workers):
            if worker.task is None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            self._remove(worker, kill=worker.process.is_alive())
        shutil.rmtree(self.log_dir, ignore_errors=True)


def _kill(process: multiprocessing.process.BaseProcess) -> None:
    """SIGKILL the worker's process group (it and any ffmpeg it runs), then the worker itself
    in case it had not yet made its own group."""
    if process.pid is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    if process.is_alive():
        process.kill()
    process.join(5)


# --------------------------------------------------------------------------- worker side

def _worker_main(conn: Connection, log_path: str, memory_mb: int, analyze_fn: AnalyzeFn,
                 warm_up: bool) -> None:
    """Worker process: set limits, say "ready", then analyse one task at a time until told to
    stop (None) or the parent goes away (EOF)."""
    _redirect_output(log_path)
    try:
        os.setpgid(0, 0)  # own process group: a kill on timeout takes ffmpeg children along
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which reaps us
    faulthandler.enable()  # a segfault leaves "Fatal Python error: ..." in the log
    try:
        guard.apply_memory_limit(memory_mb)
        if warm_up:  # import Essentia now, so it does not count against the first deadline
            importlib.import_module(_FEATURES_MODULE)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, then we exit
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, path, excerpt_seconds = task
        _truncate_log()
        features, error, retire = _run_one(analyze_fn, path, excerpt_seconds, memory_mb)
        try:
            conn.send(("done", index, features, error, retire))
        except Exception as exc:  # e.g. a result that cannot be pickled
            conn.send(("done", index, None, f"{type(exc).__name__}: cannot return result: {exc}",
                       retire))
        if retire:
            return


def _run_one(analyze_fn: AnalyzeFn, path: str, excerpt_seconds: float,
             memory_mb: int) -> tuple[dict | None, str | None, bool]:
    """(features, error, retire this worker) for one file."""
    try:
        return analyze_fn(path, excerpt_seconds), None, False
    except MemoryError:
        limit = (f"the {memory_mb} MiB a worker may use (ANALYSIS_MEMORY_MB)" if memory_mb > 0
                 else "the memory available")
        return None, f"MemoryError: analysing this file needed more than {limit}", True
    except Exception as exc:  # recorded per file; the batch goes on
        return None, f"{type(exc).__name__}: {exc}", False


def _redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 (Python's and native code's output) at the worker's log file."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)


def _truncate_log() -> None:
    """Start each task with an empty log, so a crash report shows this file's output only."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        os.ftruncate(2, 0)  # O_APPEND: the next write lands at the new end
    except OSError:
        pass
