"""Track clusters (HDBSCAN), each week's dominant cluster, and listening outliers.

Clustering runs on the standardised track vectors, not on a 10-d UMAP: for the 16-d `mir-v1`
vectors density estimates are sound in the original space, the result does not depend on UMAP's
random stream or on the map being refitted, and no second UMAP fit is paid for. (For 400-d
vectors see benchmarks/RESULTS.md, section umap-hdbscan, for what that costs.)
Uses `sklearn.cluster.HDBSCAN` (scikit-learn >= 1.3).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from sidetrack_pipeline.analytics.trajectory import standardise

NOISE = -1
METHOD = "hdbscan-mir-v1"
OUTLIER_WINDOW_DAYS = 90


def min_cluster_size(n_tracks: int) -> int:
    """Scaled to the library: 1 % of the tracks, at least 5 (so tiny libraries still cluster)."""
    return max(5, n_tracks // 100)


def cluster_tracks(vectors: np.ndarray, min_size: int | None = None) -> np.ndarray:
    """HDBSCAN labels for each row of `vectors` (noise = -1)."""
    from sklearn.cluster import HDBSCAN

    n = len(vectors)
    size = min_size or min_cluster_size(n)
    if n < size:
        return np.full(n, NOISE)
    standardised, _, _ = standardise(vectors)
    return HDBSCAN(min_cluster_size=size, copy=True).fit_predict(standardised)


def dominant_clusters(listens: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """listens: user_id, track_id, week (one row per listen); labels: track_id, cluster.

    Returns user_id, week, cluster, share: the cluster with most listens that week (noise only
    when every clustered listen is noise; ties go to the lower cluster id), and its listen share.
    """
    joined = listens.merge(labels, on="track_id", how="inner")
    counts = joined.groupby(["user_id", "week", "cluster"]).size().rename("n").reset_index()
    totals = counts.groupby(["user_id", "week"])["n"].transform("sum")
    counts["share"] = counts["n"] / totals
    counts["is_noise"] = counts["cluster"] == NOISE
    best = counts.sort_values(["user_id", "week", "is_noise", "n", "cluster"],
                              ascending=[True, True, True, False, True])
    out = best.groupby(["user_id", "week"], as_index=False).first()
    return out[["user_id", "week", "cluster", "share"]].reset_index(drop=True)


def outliers(listens: pd.DataFrame, track_ids: list[int], vectors: np.ndarray, top_n: int = 10,
             window_days: int = OUTLIER_WINDOW_DAYS) -> pd.DataFrame:
    """listens: user_id, track_id, played_at. Per user, over the trailing `window_days` up to the
    user's last listen: the listen-weighted centroid of the standardised vectors; each track
    listened to in the window gets its distance to it, z-scored over those tracks.

    Returns user_id, track_id, window_end, distance, z, rank (1 = farthest), top `top_n` per user.
    """
    standardised, _, _ = standardise(vectors)
    row = {int(t): i for i, t in enumerate(track_ids)}
    frames = []
    for user_id, group in listens.groupby("user_id"):
        end = group["played_at"].max()
        start = end - timedelta(days=window_days)
        window = group[(group["played_at"] > start) & group["track_id"].isin(row)]
        if window.empty:
            continue
        plays = window.groupby("track_id").size()
        idx = np.array([row[int(t)] for t in plays.index])
        weights = plays.to_numpy(dtype=float)
        centroid = (standardised[idx] * weights[:, None]).sum(axis=0) / weights.sum()
        distance = np.linalg.norm(standardised[idx] - centroid, axis=1)
        spread = distance.std()
        z = (distance - distance.mean()) / spread if spread > 1e-12 else np.zeros_like(distance)
        frame = pd.DataFrame({"user_id": user_id, "track_id": plays.index.astype(int), "window_end": end,
                              "distance": distance, "z": z})
        frame = frame.sort_values(["distance", "track_id"], ascending=[False, True]).head(top_n)
        frame["rank"] = np.arange(1, len(frame) + 1)
        frames.append(frame)
    columns = ["user_id", "track_id", "window_end", "distance", "z", "rank"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
