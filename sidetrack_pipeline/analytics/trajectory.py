"""The 2-D taste trajectory: UMAP over track vectors, then each week's listen-weighted position.

A fitted map is kept (`TasteMap`, pickled under ``$SIDETRACK_HOME/models``) and reused: tracks
analysed after the fit are placed with ``umap.transform`` and every track keeps the position it
was first given, so the dashboard's map does not reshuffle each run. The map is refitted when the
vector model differs or more than `REFIT_FRACTION` of the current tracks are new since the fit.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

METHOD = "umap-mir-v1"
SEED = 42
N_NEIGHBORS = 50
MIN_DIST = 0.1
REFIT_FRACTION = 0.2


def standardise(vectors: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None):
    """(vectors - mean) / std per dimension; returns (standardised, mean, std). Constant columns stay 0."""
    mean = vectors.mean(axis=0) if mean is None else mean
    if std is None:
        std = vectors.std(axis=0)
        std = np.where(std > 1e-9, std, 1.0)
    return (vectors - mean) / std, mean, std


def _reducer(n: int, n_neighbors: int, min_dist: float, seed: int):
    import umap  # heavy import (numba): only when a map is actually fitted

    return umap.UMAP(n_components=2, n_neighbors=max(2, min(n_neighbors, n - 1)), min_dist=min_dist,
                     random_state=seed, n_jobs=1, init="spectral" if n > 10 else "random")


def project(vectors: np.ndarray, n_neighbors: int = N_NEIGHBORS, min_dist: float = MIN_DIST,
            seed: int = SEED) -> np.ndarray:
    """Standardise the vectors and embed them in 2-D with UMAP (deterministic for a fixed seed)."""
    n = len(vectors)
    if n < 3:
        raise ValueError(f"need at least 3 track vectors for a taste map, have {n}")
    standardised, _, _ = standardise(vectors)
    return _reducer(n, n_neighbors, min_dist, seed).fit_transform(standardised)


@dataclass
class TasteMap:
    """A fitted UMAP plus what it was fitted on; `positions` holds every track placed so far."""

    vector_model: str
    reducer: object
    mean: np.ndarray
    std: np.ndarray
    fitted_tracks: dict[int, str]  # track_id -> digest of the vector it was fitted with
    fitted_at: datetime
    positions: dict[int, tuple[str, float, float]] = field(default_factory=dict)  # id -> (digest, x, y)

    @property
    def n_fitted(self) -> int:
        return len(self.fitted_tracks)


def digest(vector: np.ndarray) -> str:
    """Identifies a track's vector: a re-analysed track (or another database's track 7) is new."""
    return hashlib.sha1(np.round(np.asarray(vector, dtype=float), 6).tobytes()).hexdigest()[:16]


def fit(track_ids: list[int], vectors: np.ndarray, vector_model: str, n_neighbors: int = N_NEIGHBORS,
        min_dist: float = MIN_DIST, seed: int = SEED) -> TasteMap:
    n = len(vectors)
    if n < 3:
        raise ValueError(f"need at least 3 track vectors for a taste map, have {n}")
    standardised, mean, std = standardise(vectors)
    reducer = _reducer(n, n_neighbors, min_dist, seed)
    xy = reducer.fit_transform(standardised)
    digests = [digest(v) for v in vectors]
    return TasteMap(vector_model, reducer, mean, std, {int(t): d for t, d in zip(track_ids, digests)},
                    datetime.now(timezone.utc),
                    {int(t): (d, float(x), float(y)) for t, d, (x, y) in zip(track_ids, digests, xy)})


def refit_reason(current: TasteMap | None, track_ids: list[int], vectors: np.ndarray, vector_model: str,
                 threshold: float = REFIT_FRACTION) -> str | None:
    """Why the map must be refitted (None: reuse it). New = tracks (or vectors) the fit never saw."""
    if current is None:
        return "no fitted map"
    if current.vector_model != vector_model:
        return f"vector model changed ({current.vector_model} -> {vector_model})"
    new = sum(1 for t, v in zip(track_ids, vectors) if current.fitted_tracks.get(int(t)) != digest(v))
    if track_ids and new / len(track_ids) > threshold:
        return f"{new} of {len(track_ids)} tracks are new since the fit (> {threshold:.0%})"
    return None


def place(current: TasteMap, track_ids: list[int], vectors: np.ndarray) -> np.ndarray:
    """Positions for `track_ids`: already-placed tracks keep theirs, the rest go through transform."""
    digests = [digest(v) for v in vectors]
    todo = [i for i, t in enumerate(track_ids) if current.positions.get(int(t), ("",))[0] != digests[i]]
    if todo:
        standardised, _, _ = standardise(vectors[todo], current.mean, current.std)
        xy = current.reducer.transform(standardised)
        for i, (x, y) in zip(todo, xy):
            current.positions[int(track_ids[i])] = (digests[i], float(x), float(y))
    return np.array([current.positions[int(t)][1:] for t in track_ids], dtype=float).reshape(-1, 2)


def update(current: TasteMap | None, track_ids: list[int], vectors: np.ndarray,
           vector_model: str) -> tuple[TasteMap, np.ndarray, str | None]:
    """Reuse or refit; returns (map, positions of `track_ids`, refit reason or None when reused)."""
    reason = refit_reason(current, track_ids, vectors, vector_model)
    if reason is not None:
        current = fit(track_ids, vectors, vector_model)
    return current, place(current, track_ids, vectors), reason


def model_path(directory: Path, vector_model: str, method: str = METHOD) -> Path:
    digest = hashlib.sha256(f"{method}|{vector_model}".encode()).hexdigest()[:12]
    return directory / f"umap-{digest}.pkl"


def save(current: TasteMap, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(current))
    tmp.replace(path)


def load(path: Path) -> TasteMap | None:
    if not path.exists():
        return None
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # an unreadable/outdated pickle just means "refit"
        return None


def weekly_positions(listens: pd.DataFrame, coords: pd.DataFrame) -> pd.DataFrame:
    """listens: user_id, track_id, week (one row per listen); coords: track_id, x, y.

    Returns user_id, week, x, y, listens: the mean position of the week's listens, so a track
    played five times pulls five times as hard.
    """
    joined = listens.merge(coords, on="track_id", how="inner")
    grouped = joined.groupby(["user_id", "week"], as_index=False).agg(
        x=("x", "mean"), y=("y", "mean"), listens=("track_id", "size"))
    return grouped.sort_values(["user_id", "week"]).reset_index(drop=True)


def weekly_arrows(weeks: pd.DataFrame) -> pd.DataFrame:
    """Week-to-week steps per user from `weekly_positions`: user_id, week_from, week_to, dx, dy, step."""
    weeks = weeks.sort_values(["user_id", "week"])
    prev = weeks.groupby("user_id")[["week", "x", "y"]].shift(1)
    out = pd.DataFrame({"user_id": weeks["user_id"], "week_from": prev["week"], "week_to": weeks["week"],
                        "dx": weeks["x"] - prev["x"], "dy": weeks["y"] - prev["y"]}).dropna()
    out["step"] = np.hypot(out["dx"], out["dy"])
    return out.reset_index(drop=True)
