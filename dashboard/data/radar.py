"""Radar: a week's mood per axis against its trailing 26-week baseline (mart_radar)."""

from __future__ import annotations

import pandas as pd

from dashboard.data import core


@core.scoped()
def weeks(db: str, user_id: int) -> list:
    df = core.scoped_read(db, user_id, """
        select distinct week from marts.mart_radar where user_id = :user_id order by week desc limit 520""")
    return df["week"].tolist()


@core.scoped()
def week(db: str, user_id: int, monday) -> pd.DataFrame:
    return core.scoped_read(db, user_id, """
        select axis, value, baseline_mean, baseline_std, baseline_weeks, z_score
        from marts.mart_radar where user_id = :user_id and week = :week order by axis""", week=monday)
