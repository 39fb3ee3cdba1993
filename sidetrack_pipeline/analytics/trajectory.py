"""The 2-D taste trajectory: UMAP over track vectors, then each week's listen-weighted position."""

from __future__ import annotations

import numpy as np
import pandas as pd

METHOD = "umap-mir-v1"
SEED = 42


def project(vectors: np.ndarray, n_neighbors: int = 50, min_dist: float = 0.1, seed: int = SEED) -> np.ndarray:
    """Standardise the vectors and embed them in 2-D with UMAP (deterministic for a fixed seed)."""
    n = len(vectors)
    if n < 3:
        raise ValueError(f"need at least 3 track vectors for a taste map, have {n}")
    std = vectors.std(axis=0)
    standardised = (vectors - vectors.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)
    import umap  # heavy import (numba): only when a map is actually fitted

    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), min_dist=min_dist,
                        random_state=seed, n_jobs=1, init="spectral" if n > 10 else "random")
    return reducer.fit_transform(standardised)


def weekly_positions(listens: pd.DataFrame, coords: pd.DataFrame) -> pd.DataFrame:
    """listens: user_id, track_id, week (one row per listen); coords: track_id, x, y.

    Returns user_id, week, x, y, listens: the mean position of the week's listens, so a track
    played five times pulls five times as hard.
    """
    joined = listens.merge(coords, on="track_id", how="inner")
    grouped = joined.groupby(["user_id", "week"], as_index=False).agg(
        x=("x", "mean"), y=("y", "mean"), listens=("track_id", "size"))
    return grouped.sort_values(["user_id", "week"]).reset_index(drop=True)
