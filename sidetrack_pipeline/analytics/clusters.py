"""Track clusters (HDBSCAN), each week's dominant cluster, and listening outliers.

Clustering runs on the standardised track vectors, not on a 10-d UMAP: for the 16-d `mir-v1`
vectors density estimates are sound in the original space, the result does not depend on UMAP's
random stream or on the map being refitted, and no second UMAP fit is paid for. (For 400-d
vectors see benchmarks/RESULTS.md, section umap-hdbscan, for what that costs.)
Uses `sklearn.cluster.HDBSCAN` (scikit-learn >= 1.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

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
             window_days: int = OUTLIER_WINDOW_DAYS, ends: Mapping[int, datetime] | None = None) -> pd.DataFrame:
    """listens: user_id, track_id, played_at. Per user, over the trailing `window_days` up to the
    user's last listen (or, with `ends`, the `window_days` before ends[user], that instant
    excluded, for the users in `ends` only): the listen-weighted centroid of the standardised
    vectors; each track listened to in the window gets its distance to it, z-scored over those tracks.

    Returns user_id, track_id, window_end, distance, z, rank (1 = farthest), top `top_n` per user.
    """
    standardised, _, _ = standardise(vectors)
    row = {int(t): i for i, t in enumerate(track_ids)}
    frames = []
    for user_id, group in listens.groupby("user_id"):
        if ends is None:
            end = group["played_at"].max()
            inside = group["played_at"] > end - timedelta(days=window_days)
        elif user_id in ends:
            end = ends[user_id]
            inside = (group["played_at"] >= end - timedelta(days=window_days)) & (group["played_at"] < end)
        else:
            continue
        window = group[inside & group["track_id"].isin(row)]
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


# --- the tables (plain psycopg2; the Dagster assets in defs/assets/clusters.py call these) -----

def load_vectors(cur, model: str) -> tuple[list[int], np.ndarray]:
    """(track ids, matrix) of every track with an embedding of `model`, by track id."""
    cur.execute("select track_id, embedding::text from embeddings where model = %s order by track_id", (model,))
    rows = cur.fetchall()
    matrix = np.array([[float(x) for x in r[1].strip("[]").split(",")] for r in rows]).reshape(len(rows), -1)
    return [r[0] for r in rows], matrix


def stored_labels(cur, method: str = METHOD) -> pd.DataFrame:
    """track_id, cluster of `track_cluster` for `method`."""
    cur.execute("select track_id, cluster from track_cluster where method = %s order by track_id", (method,))
    return pd.DataFrame(cur.fetchall(), columns=["track_id", "cluster"])


def same_partition(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Do two labellings (track_id, cluster) put the same tracks together under the same ids?"""
    if len(a) != len(b):
        return False
    merged = a.merge(b, on="track_id", how="outer", suffixes=("_a", "_b"))
    return bool(merged["cluster_a"].notna().all() and merged["cluster_b"].notna().all()
                and (merged["cluster_a"] == merged["cluster_b"]).all())


def write_track_clusters(cur, track_ids: list[int], labels: np.ndarray, method: str = METHOD) -> bool:
    """Replace `track_cluster` for `method`; True when the labelling differs from the stored one."""
    from psycopg2.extras import execute_values

    new = pd.DataFrame({"track_id": [int(t) for t in track_ids], "cluster": [int(c) for c in labels]})
    changed = not same_partition(stored_labels(cur, method), new)
    cur.execute("delete from track_cluster where method = %s", (method,))
    if len(new):
        execute_values(cur, "insert into track_cluster (track_id, method, cluster) values %s",
                       [(t, method, c) for t, c in new.itertuples(index=False)])
    return changed


def write_cluster_weeks(cur, weeks: pd.DataFrame, first: date, end: date, method: str = METHOD) -> int:
    """Replace the `cluster_week` rows of the local weeks with Monday in [first, end) by `weeks`
    (dominant_clusters' output, only rows of those weeks kept)."""
    from psycopg2.extras import execute_values

    cur.execute("delete from cluster_week where method = %s and week >= %s and week < %s", (method, first, end))
    rows = [(int(r.user_id), r.week, method, int(r.cluster), float(r.share)) for r in weeks.itertuples(index=False)
            if first <= r.week < end]
    if rows:
        execute_values(cur, "insert into cluster_week (user_id, week, method, cluster, share) values %s", rows)
    return len(rows)
