"""Plain pandas/numpy reference for the weekly marts, written independently of the SQL.

Each function takes the raw tables as DataFrames (as written into PostgreSQL) and returns the
rows the corresponding mart should hold. Time zones come from zoneinfo (Python's tz database).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

AXIS_METHOD_PREFERENCE = ["smoothed-v1", "fused-v1", "mir-v2", "mir-v1", "tags-v1"]
AXES = [
    "energy", "valence", "danceability", "brightness", "rhythmic_complexity",
    "pumpiness", "texture_density", "stereo_size", "tempo", "mode_confidence",
]
ALPHA = 2 / (4 + 1)
KALMAN_Q = 0.0004  # level variance per calendar week
KALMAN_FLOOR = 0.01  # floor on the within-week variance
LEXICON_METHOD = "zeroshot-musicnn-v1"


def local_weeks(listens: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """listens (listen_id, user_id, track_id, played_at UTC) + artist_id + local ISO week Monday."""
    tz_of = dict(zip(users.user_id, users.timezone))
    out = []
    for user_id, part in listens.groupby("user_id"):
        local = part.played_at.dt.tz_convert(tz_of[user_id]).dt.tz_localize(None)
        day = local.dt.normalize()
        week = (day - pd.to_timedelta(day.dt.weekday, unit="D")).dt.date
        out.append(part.assign(week=week.values))
    return pd.concat(out, ignore_index=True)


def preferred_scores(scores: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(AXIS_METHOD_PREFERENCE)}
    s = scores[scores.method.isin(rank) & scores.axis.isin(AXES)].copy()
    s["rank"] = s.method.map(rank)
    s = s.sort_values(["track_id", "axis", "rank"]).drop_duplicates(["track_id", "axis"])
    return s[["track_id", "axis", "value"]]


def mood_week(lw: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    joined = lw.merge(preferred_scores(scores), on="track_id")
    rows = []
    for (user_id, axis), part in joined.groupby(["user_id", "axis"]):
        ema = level = p = prev_week = None
        for week, wk in sorted(part.groupby("week"), key=lambda kv: kv[0]):
            values = wk.value.to_numpy(dtype=float)
            mean = float(values.mean())
            var = float(values.var(ddof=1)) if len(values) > 1 else 0.0
            new_ema = mean if ema is None else ALPHA * mean + (1 - ALPHA) * ema
            momentum = None if ema is None else new_ema - ema
            ema = new_ema
            # local-level Kalman filter; observation noise = the weekly mean's sampling variance
            r = max(var, KALMAN_FLOOR) / len(values)
            if level is None:
                level, p = mean, r
            else:
                p_pred = p + (week - prev_week).days // 7 * KALMAN_Q
                gain = p_pred / (p_pred + r)
                level, p = level + gain * (mean - level), (1 - gain) * p_pred
            prev_week = week
            rows.append((user_id, week, axis, mean, var, len(values), ema, momentum, level, p))
    return pd.DataFrame(rows, columns=[
        "user_id", "week", "axis", "mean_value", "variance", "sample_size", "ema_4w", "momentum",
        "kalman_level", "kalman_var",
    ])


def radar(mw: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (user_id, axis), part in mw.groupby(["user_id", "axis"]):
        by_week = dict(zip(part.week, part.mean_value))
        for week, value in by_week.items():
            base = [v for w, v in by_week.items() if 7 <= (week - w).days <= 182]
            n = len(base)
            mean = float(np.mean(base)) if n else None
            std = float(np.std(base, ddof=1)) if n >= 2 else None
            z = (value - mean) / std if n >= 4 and std and std > 0 else None
            rows.append((user_id, week, axis, value, n, mean, std, z))
    return pd.DataFrame(rows, columns=[
        "user_id", "week", "axis", "value", "baseline_weeks", "baseline_mean", "baseline_std", "z_score",
    ])


def mood_shares(lw: pd.DataFrame, lexicon: pd.DataFrame) -> pd.DataFrame:
    lex = lexicon[lexicon.method == LEXICON_METHOD]
    dominant = {}
    for track_id, part in lex.groupby("track_id"):
        top = part[part.value == part.value.max()]
        dominant[track_id] = sorted(top.word)[0]  # ties: first word (histories avoid ties)
    scored = lw[lw.track_id.isin(dominant)].assign(mood=lambda d: d.track_id.map(dominant))
    counts = scored.groupby(["user_id", "week", "mood"]).size().rename("listens").reset_index()
    totals = counts.groupby(["user_id", "week"]).listens.transform("sum")
    return counts.assign(week_listens=totals, share=counts.listens / totals)


def overview_week(lw: pd.DataFrame, tracks: pd.DataFrame, vectors: dict[int, np.ndarray],
                  mw: pd.DataFrame) -> pd.DataFrame:
    lw = lw.merge(tracks[["track_id", "artist_id"]], on="track_id")
    rows = []
    for (user_id, week), part in lw.groupby(["user_id", "week"]):
        counts = part.artist_id.value_counts().to_numpy(dtype=float)
        p = counts / counts.sum()
        entropy = float(-(p * np.log(p)).sum())
        with_vec = [vectors[t] for t in part.track_id if t in vectors]
        if with_vec:
            m = np.vstack(with_vec)
            centroid = m.mean(axis=0)
            dispersion = float(np.sqrt(((m - centroid) ** 2).sum(axis=1)).mean())
        else:
            dispersion = None
        mom = mw[(mw.user_id == user_id) & (mw.week == week)].momentum.dropna()
        momentum_index = float(mom.abs().mean()) if len(mom) else None
        rows.append((user_id, week, len(part), part.track_id.nunique(), part.artist_id.nunique(),
                     entropy, dispersion, momentum_index))
    return pd.DataFrame(rows, columns=[
        "user_id", "week", "listens", "unique_tracks", "unique_artists",
        "artist_entropy", "embedding_dispersion", "momentum_index",
    ])


def assert_frames_match(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str], tol: float = 1e-9,
                        rel_tol: dict[str, float] | None = None) -> None:
    """Same key set, and every value equal (numbers to `tol` or, for the columns of `rel_tol`,
    to that relative tolerance; nulls on both sides)."""
    got_keys = set(map(tuple, got[keys].itertuples(index=False)))
    exp_keys = set(map(tuple, expected[keys].itertuples(index=False)))
    assert len(got_keys) == len(got), "duplicate keys in the mart"
    assert got_keys == exp_keys, (sorted(got_keys - exp_keys)[:5], sorted(exp_keys - got_keys)[:5])
    merged = got.merge(expected, on=keys, suffixes=("_got", "_exp"))
    for col in expected.columns:
        if col in keys:
            continue
        for a, b, key in zip(merged[col + "_got"], merged[col + "_exp"], merged[keys].itertuples(index=False)):
            a_null = a is None or (isinstance(a, float) and math.isnan(a))
            b_null = b is None or (isinstance(b, float) and math.isnan(b))
            assert a_null == b_null, (col, tuple(key), a, b)
            if not a_null:
                allowed = max(tol, (rel_tol or {}).get(col, 0.0) * abs(float(b)))
                assert abs(float(a) - float(b)) <= allowed, (col, tuple(key), a, b)
