"""Web API responses cached in the `api_cache` table for clients that cache by URL (MusicBrainz).

`DbResponseCache` is what the source clients (e.g. `MusicBrainzClient(cache=...)`) take. Give it a
connection of its own in autocommit mode (`DbResponseCache.open(url)` does): then a cached response
survives even when the work that asked for it is rolled back, and a re-run asks nothing twice.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg2
from psycopg2.extras import Json


class DbResponseCache:
    def __init__(self, conn):
        self.conn = conn

    @classmethod
    @contextmanager
    def open(cls, url: str | None = None) -> Iterator[DbResponseCache]:
        """A cache on its own autocommit connection (the configured database when url is None)."""
        if url is None:
            from sidetrack_pipeline.db.connection import database_url
            url = database_url()
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            yield cls(conn)
        finally:
            conn.close()

    def get(self, url: str) -> tuple[int, dict | None] | None:
        """(status, body) of an unexpired entry, else None."""
        with self.conn.cursor() as cur:
            cur.execute("""select status, body from api_cache
                           where url = %s and (expires_at is null or expires_at > now())""", (url,))
            row = cur.fetchone()
        return (row[0], row[1]) if row else None

    def put(self, url: str, status: int, body: dict | None, ttl_s: float | None) -> None:
        """Store (or replace) an entry; ttl_s None keeps it until replaced."""
        with self.conn.cursor() as cur:
            put_response(cur, url, status, body, ttl_s)


def put_response(cur, url: str, status: int, body: object, ttl_s: float | None) -> None:
    """Store (or replace) one cached answer in the caller's transaction; ttl_s None: no expiry."""
    cur.execute("""
        insert into api_cache (url, status, body, fetched_at, expires_at)
        values (%s, %s, %s, now(), now() + make_interval(secs => %s))
        on conflict (url) do update set status = excluded.status, body = excluded.body,
            fetched_at = excluded.fetched_at, expires_at = excluded.expires_at""",
                (url, status, Json(body) if body is not None else None, ttl_s))


def fresh_urls(cur, prefix: str) -> set[str]:
    """The cached keys starting with `prefix` whose answer has not expired."""
    cur.execute("""select url from api_cache where starts_with(url, %s)
                   and (expires_at is null or expires_at > now())""", (prefix,))
    return {row[0] for row in cur.fetchall()}
