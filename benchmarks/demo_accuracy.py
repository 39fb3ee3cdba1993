"""Accuracy of the audio analysis on the synthetic demo library (whose ground truth is known).

    python benchmarks/demo_accuracy.py [OUT_DIR] [--tracks 48] [--seed 7] [--workers 2] [--check]

Builds (or reuses) the demo library in OUT_DIR (default: a temporary directory), analyses every
track in a process pool and prints a per-track table plus a summary: tempo Acc1 (within 4 %),
Acc2 (octave errors forgiven), exact key, mode accuracy, pumpiness AUC (ducked vs dry), rank
correlations of brightness / width / density with their audio proxies, and the mean analysis
time per track. With --check the exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidetrack_pipeline.audio.features import analyze_file  # noqa: E402
from sidetrack_pipeline.demo.library import build_demo_library, load_ground_truth  # noqa: E402

TARGETS = {"tempo_acc1": 0.90, "key_exact": 0.85, "pumpiness_auc": 0.90}


def _analyse(path: str) -> tuple[dict, float]:
    start = time.perf_counter()
    result = analyze_file(path)
    return result, time.perf_counter() - start


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def tempo_ok(estimate: float | None, truth: float, tolerance: float = 0.04) -> bool:
    return estimate is not None and abs(estimate / truth - 1.0) <= tolerance


def octave_ok(estimate: float | None, truth: float) -> bool:
    return estimate is not None and any(tempo_ok(estimate * f, truth) for f in (0.5, 1.0, 2.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path)
    parser.add_argument("--tracks", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=float, default=32.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sidetrack-demo-") as tmp:
        out_dir = args.out_dir or Path(tmp)
        start = time.perf_counter()
        build_demo_library(out_dir, args.tracks, args.seed, args.duration, workers=args.workers)
        build_s = time.perf_counter() - start
        truth = load_ground_truth(out_dir)
        start = time.perf_counter()
        with Pool(args.workers) as pool:
            results = pool.map(_analyse, [str(out_dir / t["path"]) for t in truth], chunksize=1)
        analyse_s = time.perf_counter() - start
    return report(truth, results, build_s, analyse_s, args.workers, args.check)


def report(truth: list[dict], results: list[tuple[dict, float]], build_s: float,
           analyse_s: float, workers: int, check: bool) -> int:
    print(f"{'true bpm':>8} {'est bpm':>8} {'':2} {'key':>9} {'est key':>9} {'':2} "
          f"{'duck':>5} {'pump':>5} {'width':>5} {'s.w.':>5} {'bright':>6} {'centroid':>8} "
          f"{'lufs':>6} {'sec':>5}")
    for t, (r, seconds) in zip(truth, results):
        t_ok = "ok" if tempo_ok(r["bpm"], t["tempo_bpm"]) else "--"
        k_ok = "ok" if (r["key"], r["mode"]) == (t["key"], t["mode"]) else "--"
        bpm = f"{r['bpm']:8.2f}" if r["bpm"] is not None else f"{'-':>8}"
        print(f"{t['tempo_bpm']:8.1f} {bpm} {t_ok:2} {t['key'] + ' ' + t['mode']:>9} "
              f"{str(r['key']) + ' ' + str(r['mode']):>9} {k_ok:2} {t['ducking']:5.2f} "
              f"{r['pumpiness']:5.2f} {t['width']:5.2f} {r['stereo_width']:5.2f} "
              f"{t['brightness']:6.2f} {r['spectral_centroid_hz']:8.0f} "
              f"{r['loudness_lufs']:6.1f} {seconds:5.2f}")

    n = len(truth)
    rows = [r for r, _ in results]
    acc1 = sum(tempo_ok(r["bpm"], t["tempo_bpm"]) for t, r in zip(truth, rows)) / n
    acc2 = sum(octave_ok(r["bpm"], t["tempo_bpm"]) for t, r in zip(truth, rows)) / n
    key_exact = sum((r["key"], r["mode"]) == (t["key"], t["mode"])
                    for t, r in zip(truth, rows)) / n
    mode_acc = sum(r["mode"] == t["mode"] for t, r in zip(truth, rows)) / n
    pump = [(t["ducking"] > 0, r["extra"]["pumpiness_corr"]) for t, r in zip(truth, rows)]
    pump_auc = auc([v for ducked, v in pump if ducked], [v for ducked, v in pump if not ducked])
    summary = {
        "tempo_acc1": acc1,
        "tempo_acc2": acc2,
        "key_exact": key_exact,
        "mode_accuracy": mode_acc,
        "pumpiness_auc": pump_auc,
    }
    for truth_key, feature in (("brightness", "spectral_centroid_hz"), ("width", "stereo_width"),
                               ("density", "loudness_lufs"), ("density", "onset_rate")):
        summary[f"spearman({truth_key}, {feature})"] = _spearman(truth, rows, truth_key, feature)
    times = [seconds for _, seconds in results]
    print()
    for name, value in summary.items():
        target = TARGETS.get(name)
        flag = ""
        if target is not None:
            flag = f"  (target >= {target:.2f}: {'met' if value >= target else 'MISSED'})"
        print(f"{name:44s} {value:6.3f}{flag}")
    print(f"{'tracks':44s} {n:6d}")
    print(f"{'build library (s)':44s} {build_s:6.1f}")
    print(f"{'analyse all, %d workers (s)' % workers:44s} {analyse_s:6.1f}")
    print(f"{'mean seconds per track':44s} {np.mean(times):6.2f}  (max {np.max(times):.2f})")
    missed = [name for name, target in TARGETS.items() if not summary[name] >= target]
    return 1 if check and missed else 0


def _spearman(truth: list[dict], rows: list[dict], truth_key: str, feature: str) -> float:
    pairs = [(t[truth_key], r[feature]) for t, r in zip(truth, rows) if r[feature] is not None]
    if len(pairs) < 3:
        return float("nan")
    return float(stats.spearmanr(*zip(*pairs)).statistic)


if __name__ == "__main__":
    sys.exit(main())
