"""Overview: totals, this week against its baseline, latest change-points, vibe summary (marts only)."""

from __future__ import annotations

import pandas as pd

from dashboard.data import core

BASELINE_WEEKS = 26


@core.scoped()
def totals(db: str, user_id: int) -> dict | None:
    """mart_overview's row (None when the user is not in the mart yet)."""
    df = core.scoped_read(db, user_id, """
        select listens, unique_tracks, unique_artists, weeks, first_week, last_week, analysed_tracks
        from marts.mart_overview where user_id = :user_id""")
    return None if df.empty else df.iloc[0].to_dict()


@core.scoped()
def recent_weeks(db: str, user_id: int, weeks: int = BASELINE_WEEKS + 1) -> pd.DataFrame:
    """The newest `weeks` rows of mart_overview_week, oldest first."""
    return core.scoped_read(db, user_id, """
        select * from (
            select week, listens, unique_tracks, unique_artists, artist_entropy, embedding_dispersion,
                   momentum_index
            from marts.mart_overview_week where user_id = :user_id order by week desc limit :n) w
        order by week""", n=int(weeks))


@core.scoped()
def latest_change_points(db: str, user_id: int, limit: int = 5) -> pd.DataFrame:
    return core.scoped_read(db, user_id, """
        select week, axis, direction, magnitude, method, detected_week
        from marts.mart_change_points where user_id = :user_id
        order by week desc, axis, method limit :n""", n=int(limit))


@core.scoped()
def vibe_summary(db: str, user_id: int) -> pd.DataFrame:
    """The latest week of mart_radar: each axis against the trailing 26-week baseline."""
    return core.scoped_read(db, user_id, """
        select week, axis, value, baseline_mean, baseline_weeks, z_score
        from marts.mart_radar
        where user_id = :user_id
          and week = (select max(week) from marts.mart_radar where user_id = :user_id)
        order by axis""")


def this_week_vs_baseline(weeks: pd.DataFrame, column: str) -> tuple[float | None, float | None]:
    """(the latest week's value, mean of the up to 26 weeks before it); None where missing."""
    if weeks.empty or column not in weeks or pd.isna(weeks[column].iloc[-1]):
        return None, None
    base = weeks[column].iloc[:-1].dropna()
    return float(weeks[column].iloc[-1]), (float(base.mean()) if len(base) else None)


@core.scoped()
def vibe_words(db: str, user_id: int) -> pd.DataFrame:
    """mart_vibe_summary's latest week (the words that set it apart); empty while that mart is
    not built."""
    try:
        return core.scoped_read(db, user_id, """
            select week, rank, word, score, user_mean, lift, summary_text from marts.mart_vibe_summary
            where user_id = :user_id
              and week = (select max(week) from marts.mart_vibe_summary where user_id = :user_id)
            order by rank""")
    except core.MartsMissing:
        return pd.DataFrame(columns=["week", "rank", "word", "score", "user_mean", "lift", "summary_text"])
