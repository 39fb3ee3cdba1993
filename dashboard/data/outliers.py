"""Outliers: the tracks farthest from the user's 90-day centroid (listening_outlier; since
migration 0010 kept per week — the latest week is shown)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data import core


@st.cache_data(ttl=600, show_spinner=False)
def _weekly(db: str) -> bool:
    """Whether listening_outlier has the per-week column (migration 0010 and later)."""
    return not core.read(db, """select 1 from information_schema.columns where table_schema = 'public'
                                and table_name = 'listening_outlier' and column_name = 'week'""").empty


@core.scoped()
def outliers(db: str, user_id: int, limit: int = 25) -> pd.DataFrame:
    latest = ("and o.week = (select max(week) from listening_outlier where user_id = :user_id)"
              if _weekly(db) else "")
    return core.scoped_read(db, user_id, f"""
        select o.rank, o.track_id, a.name as artist, t.title, o.distance, o.z, o.window_end,
               t.local_path is not null as has_file, t.mbid::text as recording_mbid,
               coalesce(f.duration_s, t.duration_ms / 1000.0) as duration_s
        from listening_outlier o join track t on t.track_id = o.track_id
        join artist a on a.artist_id = t.artist_id
        left join features f on f.track_id = o.track_id
        where o.user_id = :user_id {latest} order by o.rank limit :n""", n=int(limit))
