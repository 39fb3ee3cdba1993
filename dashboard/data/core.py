"""The one place user scoping, caching and database access are enforced."""

from __future__ import annotations

import functools
from decimal import Decimal
from contextlib import contextmanager

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from dashboard.scope import UserScope

TTL_S = 120

# A track a user may see: one they listened to, or one of the shared local library (the music
# folder every user of this machine shares; mixtapes are drawn from it). Tracks only another
# user listened to are never shown.
VISIBLE_TRACK = ("(t.local_path is not null or exists (select 1 from listen vl "
                 "where vl.user_id = :user_id and vl.track_id = t.track_id))")


class MartsMissing(RuntimeError):
    """The dbt marts (or an analytics table) have not been built yet."""


def database() -> str:
    """SIDETRACK_DATABASE_URL, else the embedded server's database (looked up once per process and
    SIDETRACK_HOME, not on every script run)."""
    from sidetrack_pipeline.settings import get_settings

    settings = get_settings()
    return settings.database_url or _embedded(str(settings.home))


@functools.lru_cache(maxsize=4)
def _embedded(home: str) -> str:
    from sidetrack_pipeline.db.connection import database_url

    return database_url()


def read(db: str, sql: str, **params) -> pd.DataFrame:
    """Run one SELECT; a missing relation becomes MartsMissing (the page shows how to build it)."""
    from sidetrack_pipeline.db.connection import engine

    try:
        with engine(db).connect() as conn:
            result = conn.execute(sa.text(sql), params)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "pgcode", None) in ("42P01", "3F000"):  # undefined table / schema
            raise MartsMissing(str(exc.orig).splitlines()[0]) from exc
        raise
    for column in frame.columns:  # numeric -> float (PostgreSQL numeric arrives as Decimal)
        first = frame[column].dropna()
        if len(first) and isinstance(first.iloc[0], Decimal):
            frame[column] = frame[column].astype(float)
    return frame


def scoped_read(db: str, user_id: int, sql: str, **params) -> pd.DataFrame:
    """`read` for per-user data: the SQL must filter on :user_id, which is always bound here."""
    if ":user_id" not in sql:
        raise ValueError("a scoped query must filter on :user_id")
    if not isinstance(user_id, int):
        raise TypeError("user_id must be an int")
    return read(db, sql, user_id=user_id, **params)


def scoped(ttl: int = TTL_S):
    """fn(db, user_id, *args) -> fn(scope, *args), cached per (database, user, arguments)."""

    def decorate(fn):
        cached = st.cache_data(ttl=ttl, show_spinner=False, max_entries=512)(fn)

        @functools.wraps(fn)
        def wrapper(scope: UserScope, *args, **kwargs):
            if not isinstance(scope, UserScope):
                raise TypeError(f"{fn.__name__} needs the UserScope as its first argument")
            return cached(scope.db, scope.user_id, *args, **kwargs)

        wrapper.clear_cache = cached.clear
        return wrapper

    return decorate


def user_name(db: str, user_id: int) -> str:
    """The name the pipeline's functions take, looked up from the scoped id."""
    return str(scoped_read(db, user_id, "select user_name from users where user_id = :user_id")["user_name"].iloc[0])


@contextmanager
def connection(scope: UserScope):
    """A psycopg2 connection (one transaction) for the pipeline's domain functions."""
    from sidetrack_pipeline.db.connection import connect

    if not isinstance(scope, UserScope):
        raise TypeError("connection() needs the UserScope")
    with connect(scope.db) as conn:
        yield conn
