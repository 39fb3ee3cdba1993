"""One place that decides which PostgreSQL SideTrack talks to, and hands out connections."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import parse_qs, urlparse

import psycopg2
import sqlalchemy as sa

from sidetrack_pipeline.db import embedded
from sidetrack_pipeline.settings import Settings, get_settings


def database_url(settings: Settings | None = None) -> str:
    """The libpq URI in use: SIDETRACK_DATABASE_URL, or the embedded server (started if needed)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return embedded.ensure_database(embedded.start(settings.pgdata))


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy 2.1 wants an explicit driver in the scheme."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url}")


def libpq_params(url: str) -> dict[str, str]:
    """Split a URI into the parts dbt's profile and PG* variables need (socket dirs included)."""
    parsed = urlparse(url.replace("postgresql+psycopg2://", "postgresql://", 1))
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    return {
        "host": query.get("host") or parsed.hostname or "localhost",
        "port": str(parsed.port or query.get("port") or 5432),
        "user": parsed.username or query.get("user") or "postgres",
        "password": parsed.password or query.get("password") or "",
        "dbname": (parsed.path or "/").lstrip("/") or query.get("dbname") or "postgres",
    }


@functools.lru_cache(maxsize=8)
def _engine_for(url: str) -> sa.Engine:
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, future=True)


def engine(url: str | None = None) -> sa.Engine:
    return _engine_for(url or database_url())


@contextmanager
def connect(url: str | None = None) -> Iterator["psycopg2.extensions.connection"]:
    """A psycopg2 connection inside one transaction: committed on success, rolled back on error."""
    conn = psycopg2.connect(url or database_url())
    try:
        with conn:
            yield conn
    finally:
        conn.close()
