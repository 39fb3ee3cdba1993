"""Speed of musicnn embedding: compute seconds per 10 s of audio, as a fraction of real time.

    python benchmarks/embedding_speed.py [--model msd-musicnn] [--seconds 120] [--repeats 3]
                                         [--batch-sizes 1,8,32] [--threads N]

Embeds a deterministic synthetic track (`musicnn_golden.make_test_signal`, tiled to --seconds)
on the CPU and, when available, on CUDA, for each batch size (patches per forward pass). Three
timings are reported per row, each the best of --repeats runs and scaled to 10 s of audio:
front-end (log-mel, numpy, device independent), network only, and end to end (`embed_signal`).
"x RT" is compute time / audio time: 0.01 means 100 times faster than real time.
The weights come from the model cache (fetched on first use, see `sidetrack models fetch`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.musicnn_golden import make_test_signal  # noqa: E402
from sidetrack_pipeline.models.musicnn import features  # noqa: E402
from sidetrack_pipeline.models.musicnn.embed import _predict, embed_signal  # noqa: E402
from sidetrack_pipeline.models.registry import load_model  # noqa: E402


def _best_of(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up (allocations, cuDNN autotuning, lazy init)
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="msd-musicnn")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the test track")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    base = make_test_signal()
    reps = int(np.ceil(args.seconds * features.SAMPLE_RATE / base.size))
    signal = np.tile(base, reps)[: int(args.seconds * features.SAMPLE_RATE)]
    per_10s = 10.0 / args.seconds
    patches = features.make_patches(features.log_mel(signal))
    front = _best_of(lambda: features.log_mel(signal), args.repeats, lambda: None) * per_10s

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"model {args.model}, {args.seconds:.0f} s track ({len(patches)} patches), "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"front-end (log-mel, CPU): {front:.4f} s per 10 s  ({front / 10:.5f} x RT)")
    print(f"{'device':<8}{'batch':>6}{'network s/10s':>15}{'x RT':>10}{'end-to-end s/10s':>18}"
          f"{'x RT':>10}")
    for device in devices:
        model = load_model(args.model, device=device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        if device == "cuda":
            print(f"  (CUDA: {torch.cuda.get_device_name(0)})")
        for bs in batch_sizes:
            net = _best_of(lambda m=model, b=bs: _predict(m, patches, b), args.repeats,
                           sync) * per_10s
            e2e = _best_of(lambda m=model, b=bs: embed_signal(signal, m, batch_size=b),
                           args.repeats, sync) * per_10s
            print(f"{device:<8}{bs:>6}{net:>15.4f}{net / 10:>10.5f}{e2e:>18.4f}{e2e / 10:>10.5f}")


if __name__ == "__main__":
    main()
