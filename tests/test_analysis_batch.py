"""A batch with broken files analyses every good file and records an error for each bad one."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from sidetrack_pipeline.audio.batch import analyze_many


def test_bad_files_get_errors_and_good_files_are_analysed(tmp_path):
    sr = 44100
    t = np.arange(sr * 6) / sr
    beat = (np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 30))   # a 120 BPM thump
    good = tmp_path / "good.flac"
    sf.write(good, np.stack([beat, beat], axis=1).astype("float32") * 0.5, sr)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    noise = tmp_path / "renamed.mp3"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good.read_bytes()[:2000])

    results = {r.path: r for r in analyze_many([str(p) for p in (empty, good, noise, truncated)], workers=2)}
    assert len(results) == 4
    assert results[str(good)].error is None and results[str(good)].features["duration_s"] > 5
    for bad in (empty, noise, truncated):
        assert results[str(bad)].features is None
        assert results[str(bad)].error, bad


# --------------------------------------------------------------------------- misbehaving workers
#
# `fake_analyze` is injected through analyze_many(analyze_fn=...): the pool, the worker
# processes, their limits and the kill/replace logic are the real ones; only the per-file work
# is replaced by one that hangs, crashes or eats memory on demand (chosen by the file name).


def fake_analyze(path: str, excerpt_seconds: float) -> dict:
    name = Path(path).name
    if name.startswith("hang"):
        if name.startswith("hang-with-child"):  # like a stuck ffmpeg under the worker
            child = subprocess.Popen(["sleep", "3600"])
            Path(path + ".pid").write_text(str(child.pid))
        time.sleep(3600)
    elif name.startswith("segfault"):
        import ctypes

        ctypes.string_at(0)  # SIGSEGV in native code
    elif name.startswith("exit"):
        os._exit(3)
    elif name.startswith("hog"):
        bytearray(64 << 30)  # 64 GiB: beyond the worker's RLIMIT_AS
    elif name.startswith("raise"):
        raise ValueError("not music")
    return {"name": name, "pid": os.getpid(), "excerpt_seconds": excerpt_seconds,
            "max_seconds": os.environ.get("MAX_ANALYSIS_SECONDS")}


def _gone(pid: int) -> bool:
    """True once `pid` no longer runs (a zombie awaiting its reaper counts as gone)."""
    for _ in range(100):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_hung_crashed_and_greedy_workers_fail_only_their_own_file(tmp_path):
    names = ["ok-1", "hang-with-child", "ok-2", "segfault", "ok-3", "exit", "ok-4", "hog",
             "raise", "ok-5", "ok-6"]
    paths = [str(tmp_path / name) for name in names]
    completed = []
    results = list(analyze_many(paths, workers=2, excerpt_seconds=7.0, timeout_per_file=3,
                                memory_mb=2048, max_seconds=90, analyze_fn=fake_analyze,
                                ordered=True, on_result=completed.append))

    assert [r.path for r in results] == paths
    assert sorted(r.path for r in completed) == sorted(paths)
    by_name = dict(zip(names, results))
    for name in names:
        if name.startswith("ok"):
            assert by_name[name].error is None
            assert by_name[name].features == {
                "name": name, "pid": by_name[name].features["pid"], "excerpt_seconds": 7.0,
                "max_seconds": "90"}

    hang = by_name["hang-with-child"].error
    assert hang.startswith("AnalysisTimeout") and "3 s" in hang
    assert _gone(int(Path(paths[1] + ".pid").read_text()))  # the worker's child died with it
    segfault = by_name["segfault"].error
    assert segfault.startswith("WorkerCrashed") and "SIGSEGV" in segfault
    assert "Segmentation fault" in segfault  # faulthandler's last words from the worker log
    assert "exit status 3" in by_name["exit"].error
    assert by_name["hog"].error.startswith("MemoryError") and "2048 MiB" in by_name["hog"].error
    assert by_name["raise"].error == "ValueError: not music"
    assert not multiprocessing.active_children()  # every worker was reaped


def test_single_worker_survives_crashes_in_a_row(tmp_path):
    names = ["exit-1", "segfault", "exit-2", "ok"]
    results = list(analyze_many([str(tmp_path / n) for n in names], workers=1,
                                analyze_fn=fake_analyze, ordered=True))
    assert [r.error is None for r in results] == [False, False, False, True]


def test_closing_the_results_early_stops_every_worker(tmp_path):
    paths = [str(tmp_path / name) for name in ("ok", "hang-1", "hang-2", "ok-2")]
    results = analyze_many(paths, workers=2, timeout_per_file=0, analyze_fn=fake_analyze)
    first = next(results)
    assert first.error is None
    results.close()  # two workers are stuck in hang-*: they must be killed, not waited for
    assert not multiprocessing.active_children()


def test_workers_that_cannot_start_fail_the_files_not_the_caller(tmp_path):
    """1 MiB of address space is too little to import Essentia: after a few failed starts the
    remaining files get the start-up error instead of the batch spinning forever."""
    paths = [str(tmp_path / "a.flac"), str(tmp_path / "b.flac")]
    results = list(analyze_many(paths, workers=1, memory_mb=1))
    assert len(results) == 2
    for result in results:
        assert result.error.startswith("WorkerStartError"), result.error
