"""UMAP fit + HDBSCAN on synthetic libraries, and `transform` of new tracks vs a refit.

    .venv/bin/python benchmarks/umap_hdbscan.py [--tracks 20000] [--new 1000] [--dims 16,400] [--no-write]

Synthetic vectors with the structure of real ones: 16-d (mir-v1-like: 30 clusters of uneven
size and spread plus 5 % diffuse background) and 400-d (musicnn-like: the same kind of clusters
in a 24-d latent space, mapped linearly to 400-d, softplus'ed and unit-normalised). The code
under test is SideTrack's own: `trajectory.fit` / `trajectory.place` / `clusters.cluster_tracks`.

Each dimensionality runs in its own child process so its peak RSS (`ru_maxrss`) is its own;
per phase: CPU seconds (this process), wall seconds, and the tracemalloc peak (NumPy/Python
allocations; numba's internal buffers are not traced, hence RSS as well). The section between
the umap-hdbscan markers in benchmarks/RESULTS.md is replaced (or appended).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- BEGIN umap-hdbscan -->", "<!-- END umap-hdbscan -->"
N_CLUSTERS = 30


def library(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = dim if dim <= 16 else 24
    sizes = rng.multinomial(int(n * 0.95), rng.dirichlet(np.full(N_CLUSTERS, 2.0)))
    centres = np.random.default_rng(1234).normal(0, 3, size=(N_CLUSTERS, latent))
    spread = np.random.default_rng(1235).uniform(0.3, 1.0, size=N_CLUSTERS)
    labels = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)] + [np.full(n - sizes.sum(), -1)])
    rng.shuffle(labels)
    points = np.where(labels[:, None] >= 0, centres[labels] + rng.normal(size=(n, latent)) * spread[labels][:, None],
                      rng.uniform(-8, 8, size=(n, latent)))
    if dim > latent:
        mixing = np.random.default_rng(1236).normal(0, 1 / np.sqrt(latent), size=(latent, dim))
        points = np.logaddexp(0, points @ mixing + rng.normal(0, 0.05, size=(n, dim)))  # softplus
        points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points, labels


def _phase(fn):
    tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, {"cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "traced_peak_mb": round(peak / 2**20, 1)}


def child(n: int, new: int, dim: int) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from sidetrack_pipeline.analytics import clusters, trajectory

    # numba compiles on first use, and UMAP switches to NN-descent above 4 096 points: warm both paths
    warm, _ = library(5_000, dim, seed=9)
    trajectory.place(trajectory.fit(list(range(4_800)), warm[:4_800], "warm-up"), list(range(5_000)), warm)
    points, labels = library(n + new, dim)
    ids = list(range(n + new))
    old, extra = points[:n], points[n:]
    result = {"dim": dim, "tracks": n, "new": new}
    taste_map, result["umap_fit"] = _phase(lambda: trajectory.fit(ids[:n], old, f"synthetic-{dim}"))
    found, result["hdbscan"] = _phase(lambda: clusters.cluster_tracks(old))
    planted = labels[:n] >= 0
    result["clusters_found"] = int(len(set(found) - {-1}))
    result["noise_share"] = round(float((found == -1).mean()), 3)
    result["ari_planted"] = round(float(adjusted_rand_score(labels[:n][planted], found[planted])), 3)
    _, result["transform_new"] = _phase(lambda: trajectory.place(taste_map, ids, points))
    _, result["refit_all"] = _phase(lambda: trajectory.fit(ids, points, f"synthetic-{dim}"))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def _machine() -> str:
    import sklearn
    import umap

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), Python "
            f"{platform.python_version()}, umap-learn {umap.__version__}, scikit-learn {sklearn.__version__}")


def section(results: list[dict], notes: tuple[str, ...] = ()) -> str:
    rows = ["| vectors | phase | CPU s | wall s | tracemalloc peak MB |", "|---|---|---:|---:|---:|"]
    for r in results:
        for phase, label in (("umap_fit", f"UMAP fit, {r['tracks']:,} tracks"),
                             ("hdbscan", f"HDBSCAN, {r['tracks']:,} tracks"),
                             ("transform_new", f"`transform` of {r['new']:,} new tracks"),
                             ("refit_all", f"refit on {r['tracks'] + r['new']:,} tracks")):
            p = r[phase]
            rows.append(f"| {r['dim']}-d | {label} | {p['cpu_s']} | {p['wall_s']} | {p['traced_peak_mb']} |")
    quality = [f"- {r['dim']}-d: peak RSS {r['peak_rss_mb']} MB; HDBSCAN found {r['clusters_found']} clusters "
               f"(30 planted), {r['noise_share']:.1%} noise, ARI vs planted (planted points) {r['ari_planted']}."
               for r in results]
    return "\n".join([
        BEGIN, "## UMAP + HDBSCAN (taste map and clusters)", "",
        f"`benchmarks/umap_hdbscan.py`, {time.strftime('%Y-%m-%d')}; {_machine()}.",
        "Synthetic clustered libraries (see the script's docstring); UMAP n_neighbors 50, min_dist 0.1, "
        "n_jobs 1, fixed seed, numba warmed up first; HDBSCAN min_cluster_size = 1 % of the tracks on the standardised vectors.",
        "", *rows, "", *quality, *notes, END])


def write(text: str) -> None:
    body = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN in body and END in body:
        body = body[:body.index(BEGIN)] + text + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--dims", default="16,400")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.tracks, args.new, args.child)))
        return
    results = []
    for dim in (int(d) for d in args.dims.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(dim), "--tracks", str(args.tracks),
                              "--new", str(args.new)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    text = section(results)
    print(text)
    if not args.no_write:
        write(text)


if __name__ == "__main__":
    main()
