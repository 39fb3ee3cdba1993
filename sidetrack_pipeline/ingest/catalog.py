"""Upserts for users, artists, releases and tracks, keyed by their natural keys.

Each function takes many rows at once and returns {natural key: id}, so a batch costs a handful
of statements, not one per row. Listens are catalogued set-based in SQL by `listen_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extras import execute_values



@dataclass(frozen=True)
class TrackRow:
    track_key: str
    name_key: str
    title: str
    artist_key: str
    release_key: str | None = None
    mbid: str | None = None
    duration_ms: int | None = None


def ensure_user(cur, user_name: str, timezone: str | None = None) -> int:
    """The user's id, creating the user; a given time zone is validated and stored."""
    if timezone is not None:
        cur.execute("select count(*) from pg_timezone_names where name = %s", (timezone,))
        if cur.fetchone()[0] == 0:
            raise ValueError(f"unknown time zone {timezone!r} (use an IANA name like Europe/Berlin)")
    cur.execute(
        """insert into users (user_name, timezone) values (%s, coalesce(%s, 'UTC'))
           on conflict (user_name) do update
               set timezone = coalesce(%s, users.timezone)
           returning user_id""",
        (user_name, timezone, timezone),
    )
    return cur.fetchone()[0]


def _upsert(cur, sql: str, rows: list[tuple]) -> dict[str, int]:
    if not rows:
        return {}
    result = execute_values(cur, sql, rows, page_size=1000, fetch=True)
    return {key: ident for key, ident in result}


def upsert_artists(cur, artists: dict[str, tuple[str, str | None]]) -> dict[str, int]:
    """artists: {artist_key: (name, mbid)}."""
    rows = [(key, name, mbid) for key, (name, mbid) in sorted(artists.items())]
    return _upsert(
        cur,
        """insert into artist (artist_key, name, mbid) values %s
           on conflict (artist_key) do update set name = artist.name
           returning artist_key, artist_id""",
        rows,
    )


def upsert_releases(cur, releases: dict[str, tuple[str, int, str | None]]) -> dict[str, int]:
    """releases: {release_key: (title, artist_id, mbid)}."""
    rows = [(key, title, artist_id, mbid) for key, (title, artist_id, mbid) in sorted(releases.items())]
    return _upsert(
        cur,
        """insert into release (release_key, title, artist_id, mbid) values %s
           on conflict (release_key) do update set title = release.title
           returning release_key, release_id""",
        rows,
    )


def upsert_tracks(cur, tracks: list[TrackRow], artist_ids: dict[str, int],
                  release_ids: dict[str, int]) -> dict[str, int]:
    """Insert missing tracks; fill gaps (duration, release, mbid) on existing ones."""
    unique = {t.track_key: t for t in tracks}
    rows = [
        (t.track_key, t.name_key, t.title, artist_ids[t.artist_key],
         release_ids.get(t.release_key) if t.release_key else None, t.mbid, t.duration_ms)
        for t in sorted(unique.values(), key=lambda t: t.track_key)
    ]
    return _upsert(
        cur,
        """insert into track (track_key, name_key, title, artist_id, release_id, mbid, duration_ms) values %s
           on conflict (track_key) do update set
               release_id  = coalesce(track.release_id, excluded.release_id),
               mbid        = coalesce(track.mbid, excluded.mbid),
               duration_ms = coalesce(track.duration_ms, excluded.duration_ms),
               updated_at  = case when track.release_id is null or track.mbid is null
                                   or track.duration_ms is null then now() else track.updated_at end
           returning track_key, track_id""",
        rows,
    )
