"""Analyse many files in a process pool; one bad file never stops the batch.

A file that raises gets an error result. A file that kills its worker (a decoder segfault)
breaks the pool: the files that were in flight are then retried one by one in fresh
single-worker pools, so only the culprit is blamed.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator


@dataclass(frozen=True)
class AnalysisResult:
    path: str
    features: dict | None
    error: str | None


def _analyze(path: str, excerpt_seconds: float) -> AnalysisResult:
    from sidetrack_pipeline.audio.features import analyze_file

    try:
        return AnalysisResult(path, analyze_file(path, excerpt_seconds=excerpt_seconds), None)
    except Exception as exc:  # recorded per file; the batch goes on
        return AnalysisResult(path, None, f"{type(exc).__name__}: {exc}")


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: never fork a process that holds threads (Dagster, database drivers).
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _isolated(path: str, excerpt_seconds: float, timeout: float) -> AnalysisResult:
    with _pool(1) as pool:
        try:
            return pool.submit(_analyze, path, excerpt_seconds).result(timeout=timeout)
        except BrokenProcessPool:
            return AnalysisResult(path, None, "analysis crashed the worker process (corrupt or unsupported file?)")
        except TimeoutError:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
            return AnalysisResult(path, None, f"analysis timed out after {timeout:.0f} s")


def analyze_many(paths: Iterable[str], workers: int = 2, excerpt_seconds: float = 0.0,
                 timeout_per_file: float = 600.0,
                 on_result: Callable[[AnalysisResult], None] | None = None) -> Iterator[AnalysisResult]:
    """Yield one AnalysisResult per path (in completion order)."""
    paths = list(paths)
    if not paths:
        return
    if workers <= 1:
        for path in paths:
            yield _analyze(path, excerpt_seconds)
        return
    retry: list[str] = []
    with _pool(workers) as pool:
        futures = {pool.submit(_analyze, p, excerpt_seconds): p for p in paths}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                retry.append(futures[future])
    for path in retry:
        yield _isolated(path, excerpt_seconds, timeout_per_file)
