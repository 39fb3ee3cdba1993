"""Trajectory: the user's weekly taste positions, arrows and the tracks behind them."""

from __future__ import annotations

import pandas as pd

from dashboard.data import core

from sidetrack_pipeline.analytics.trajectory import METHOD

MAX_TRACK_POINTS = 1500


def method() -> str:
    return METHOD


@core.scoped()
def weeks(db: str, user_id: int, last_weeks: int | None) -> pd.DataFrame:
    """Weekly positions (x, y, listens) and the week's mean energy, newest `last_weeks` (None: all)."""
    return core.scoped_read(db, user_id, """
        select w.week, w.x, w.y, w.listens, e.mean_value as energy
        from (select week, x, y, listens from taste_trajectory_week
              where user_id = :user_id and method = :method
              order by week desc limit :n) w
        left join marts.mart_mood_week e
          on e.user_id = :user_id and e.week = w.week and e.axis = 'energy'
        order by w.week""", method=method(), n=last_weeks or 100_000)


@core.scoped()
def arrows(db: str, user_id: int, since) -> pd.DataFrame:
    return core.scoped_read(db, user_id, """
        select week_from, week, x_from, y_from, x, y, dx, dy, step from taste_trajectory_step
        where user_id = :user_id and method = :method and week_from >= :since order by week""",
                            method=method(), since=since)


@core.scoped()
def tracks(db: str, user_id: int, since) -> pd.DataFrame:
    """The most played tracks since `since` with their map position and energy (capped)."""
    return core.scoped_read(db, user_id, """
        with played as (
            select track_id, count(*) as plays from listen
            where user_id = :user_id and played_at >= :since
            group by track_id order by plays desc limit :cap)
        select p.track_id, a.name as artist, t.title, p.plays, tp.x, tp.y, e.value as energy
        from played p
        join track t on t.track_id = p.track_id
        join artist a on a.artist_id = t.artist_id
        join track_projection tp on tp.track_id = p.track_id and tp.method = :method
        left join lateral (
            select value from mood_scores m where m.track_id = p.track_id and m.axis = 'energy'
            order by array_position(array['smoothed-v1','fused-v1','mir-v2','mir-v1','tags-v1'], m.method)
            limit 1) e on true
        order by p.plays desc""", since=since, cap=MAX_TRACK_POINTS, method=method())


@core.scoped()
def week_tracks(db: str, user_id: int, week, timezone: str, limit: int = 15) -> pd.DataFrame:
    """The week's most played tracks (local week, Monday `week`, in the user's zone)."""
    return core.scoped_read(db, user_id, """
        select a.name as artist, t.title, count(*) as plays
        from listen l join track t on t.track_id = l.track_id join artist a on a.artist_id = t.artist_id
        where l.user_id = :user_id
          and l.played_at >= (cast(:week as date)::timestamp at time zone :tz)
          and l.played_at < ((cast(:week as date) + 7)::timestamp at time zone :tz)
        group by a.name, t.title order by plays desc, artist, title limit :n""",
                            week=str(week), tz=timezone, n=int(limit))
