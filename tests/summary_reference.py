"""Plain pandas/numpy reference for the summary marts (mart_vibe_summary, mart_artist_drift,
mart_label_influence), written from their stated definitions, independently of the SQL.

Inputs are the raw tables as DataFrames; `lw` is the listens with their local week
(marts_reference.local_weeks). Everything works listen by listen (one row per play, no
pre-aggregation), so it does not share the SQL's structure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.marts_reference import LEXICON_METHOD, preferred_scores

VIBE_TOP_WORDS = 3
DRIFT_MIN_WEEKS = 4
INFLUENCE_TOP_K = 5
BASELINE_DAYS = (7, 182)  # trailing baseline: observed weeks 1..26 weeks before the week
NO_LABEL = "(no label)"


def _rank_key(x: float) -> int:
    """Ranking magnitude compared to 1e-12 like the SQL, round(x * 1e12) (both round half to even),
    so float noise between equal quantities summed in another order falls to the tie-breakers."""
    return round(float(x) * 1e12)


def vibe_summary(lw: pd.DataFrame, lexicon: pd.DataFrame, top_words: int = VIBE_TOP_WORDS) -> pd.DataFrame:
    lex = lexicon[lexicon.method == LEXICON_METHOD][["track_id", "word", "value"]]
    scored_tracks = set(lex.track_id)
    plays = lw[["user_id", "week", "track_id"]].merge(lex, on="track_id")  # one row per listen × word
    user_mean = plays.groupby(["user_id", "word"]).value.mean().to_dict()
    rows = []
    for (user_id, week), part in plays.groupby(["user_id", "week"]):
        week_listens = int(((lw.user_id == user_id) & (lw.week == week) & lw.track_id.isin(scored_tracks)).sum())
        words = []
        for word, w in part.groupby("word"):
            score = float(w.value.mean())
            lift = score - user_mean[(user_id, word)]
            words.append((word, score, user_mean[(user_id, word)], lift, len(w)))
        words.sort(key=lambda r: (-_rank_key(r[3]), -r[1], r[0]))
        kept = words[:top_words]
        text = ", ".join(r[0] for r in kept)
        for rank, (word, score, mean, lift, n) in enumerate(kept, start=1):
            rows.append((user_id, week, rank, word, text, score, mean, lift, n, week_listens))
    return pd.DataFrame(rows, columns=[
        "user_id", "week", "rank", "word", "summary_text", "score", "user_mean", "lift",
        "word_listens", "week_listens",
    ])


def _ols(t: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
    """Least-squares slope of y on t and its standard error (None with fewer than 3 points)."""
    slope, intercept = np.polyfit(t, y, 1)
    n = len(t)
    if n < 3:
        return float(slope), None
    resid = y - (intercept + slope * t)
    se = np.sqrt((resid ** 2).sum() / (n - 2) / ((t - t.mean()) ** 2).sum())
    return float(slope), float(se)


def artist_drift(lw: pd.DataFrame, tracks: pd.DataFrame, scores: pd.DataFrame,
                 min_weeks: int = DRIFT_MIN_WEEKS) -> pd.DataFrame:
    plays = (lw[["user_id", "week", "track_id"]]
             .merge(tracks[["track_id", "artist_id"]], on="track_id")
             .merge(preferred_scores(scores), on="track_id"))  # one row per listen × axis
    rows = []
    for (user_id, artist_id, axis), part in plays.groupby(["user_id", "artist_id", "axis"]):
        weekly = part.groupby("week").value.agg(["mean", "size"]).sort_index()
        n = len(weekly)
        if n < min_weeks:
            continue
        weeks = list(weekly.index)
        t = np.array([(w - weeks[0]).days / 7 for w in weeks], dtype=float)
        slope, se = _ols(t, weekly["mean"].to_numpy(dtype=float))
        half = n // 2
        first = part[part.week.isin(weeks[:half])].value.mean()
        latest = part[part.week.isin(weeks[n - half:])].value.mean()
        span = (weeks[-1] - weeks[0]).days // 7
        rows.append((user_id, artist_id, axis, n, len(part), weeks[0], weeks[-1], span,
                     float(part.value.mean()), float(first), float(latest), float(latest - first),
                     slope, se, slope * span))
    out = pd.DataFrame(rows, columns=[
        "user_id", "artist_id", "axis", "weeks_observed", "listens", "first_week", "last_week",
        "span_weeks", "mean_value", "first_period_mean", "latest_period_mean", "period_change",
        "slope_per_week", "slope_se", "fitted_change",
    ])
    out["drift_rank"] = 0
    for _, part in out.groupby(["user_id", "axis"]):
        order = sorted(part.index, key=lambda i: (-_rank_key(abs(out.fitted_change[i])), out.artist_id[i]))
        for rank, i in enumerate(order, start=1):
            out.loc[i, "drift_rank"] = rank
    return out


def trailing_baseline(weekly_means: dict) -> dict:
    """{week: mean} -> {week: (n baseline weeks, baseline mean)} over weeks 1..26 weeks before."""
    out = {}
    for week in weekly_means:
        base = [v for w, v in weekly_means.items() if BASELINE_DAYS[0] <= (week - w).days <= BASELINE_DAYS[1]]
        out[week] = (len(base), float(np.mean(base)) if base else None)
    return out


def label_influence(lw: pd.DataFrame, tracks: pd.DataFrame, scores: pd.DataFrame,
                    track_labels: dict[int, list[int]], label_names: dict[int, str],
                    artist_names: dict[int, str], top_k: int | None = INFLUENCE_TOP_K,
                    keep_all: bool = False) -> pd.DataFrame:
    """track_labels: track_id -> distinct label ids of its release (missing / empty = no label).
    keep_all: return every contributor (no top-k cut; others_contribution is then 0)."""
    plays = (lw[["user_id", "week", "track_id"]]
             .merge(tracks[["track_id", "artist_id"]], on="track_id")
             .merge(preferred_scores(scores), on="track_id"))
    rows = []
    for (user_id, axis), series in plays.groupby(["user_id", "axis"]):
        week_means = series.groupby("week").value.mean().to_dict()
        baseline = trailing_baseline(week_means)
        for week, part in series.groupby("week"):
            n_base, base = baseline[week]
            if n_base == 0:
                continue
            n = len(part)
            week_mean = week_means[week]
            for kind in ("artist", "label"):
                # per contributor: [weighted listens, weighted value sum, weighted deviation sum]
                acc: dict = {}
                for track_id, artist_id, value in zip(part.track_id, part.artist_id, part.value):
                    if kind == "artist":
                        shares = [(artist_id, 1.0)]
                    else:
                        labels = track_labels.get(track_id) or [None]
                        shares = [(label, 1.0 / len(labels)) for label in labels]
                    for cid, weight in shares:
                        a = acc.setdefault(cid, [0.0, 0.0, 0.0])
                        a[0] += weight
                        a[1] += weight * value
                        a[2] += weight * (value - base)
                contributors = []
                for cid, (wl, wv, wd) in acc.items():
                    if kind == "artist":
                        name = artist_names[cid]
                    else:
                        name = NO_LABEL if cid is None else label_names[cid]
                    contributors.append((cid, name, wl, wv / wl, wd / n))
                # ties: by id, the null id ('(no label)') last, as PostgreSQL orders nulls
                contributors.sort(key=lambda c: (-_rank_key(abs(c[4])), c[0] is None, c[0] or 0))
                k = len(contributors) if keep_all or top_k is None else top_k
                others = sum(c[4] for c in contributors[k:])
                for rank, (cid, name, wl, cmean, contribution) in enumerate(contributors[:k], start=1):
                    rows.append((user_id, week, axis, kind, rank, -1 if cid is None else cid, name,
                                 wl, wl / n, cmean, contribution, n, week_mean, n_base, base,
                                 week_mean - base, len(contributors), others))
    return pd.DataFrame(rows, columns=[
        "user_id", "week", "axis", "kind", "rank", "contributor_id", "contributor_name",
        "weighted_listens", "share", "contributor_mean", "contribution", "week_listens", "week_mean",
        "baseline_weeks", "baseline_mean", "deviation", "contributors", "others_contribution",
    ])
