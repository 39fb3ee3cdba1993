"""Every query the dashboard makes, each scoped to one user here — pages never write SQL."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from sidetrack_pipeline.db.connection import engine


class MartsMissing(RuntimeError):
    """The dbt marts have not been built yet."""


def _read(sql: str, **params) -> pd.DataFrame:
    try:
        with engine().connect() as conn:
            return pd.read_sql(sa.text(sql), conn, params=params)
    except sa.exc.ProgrammingError as exc:
        if "does not exist" in str(exc):
            raise MartsMissing(str(exc.orig).splitlines()[0]) from exc
        raise


def users() -> pd.DataFrame:
    return _read("select user_id, user_name, timezone from users order by user_name")


def overview(user_id: int) -> pd.Series | None:
    df = _read("select * from marts.mart_overview where user_id = :u", u=user_id)
    return None if df.empty else df.iloc[0]


def mood_weeks(user_id: int) -> pd.DataFrame:
    return _read("""select week, axis, mean_value, variance, sample_size, ema_4w, momentum
                    from marts.mart_mood_week where user_id = :u order by week, axis""", u=user_id)


def change_points(user_id: int) -> pd.DataFrame:
    return _read("""select axis, week, detected_week, direction, magnitude, method
                    from marts.mart_change_points where user_id = :u order by week desc""", u=user_id)


def listens_per_week(user_id: int) -> pd.DataFrame:
    return _read("select week, listens, unique_tracks from marts.mart_listens_week where user_id = :u "
                 "order by week", u=user_id)
