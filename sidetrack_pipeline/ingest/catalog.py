"""Upserts for users, artists, releases and tracks, keyed by their natural keys.

Each function takes many rows at once and returns {natural key: id}, so an import of a large
history costs a handful of statements, not one per listen.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extras import execute_values

from sidetrack_pipeline.sources.listen import Listen, artist_key, name_key, release_key, track_key


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


def _known_by_name(cur, listens: list[Listen]) -> dict[str, int]:
    """name_key → track_id for MBID-less listens whose track is already catalogued: under its own
    `name:` key, or as the one MBID-identified track of that artist and title (so re-importing a
    name-only listen finds the track it was merged into instead of re-creating a twin)."""
    keys = sorted({name_key(l.artist_name, l.track_name) for l in listens if not l.recording_mbid})
    if not keys:
        return {}
    cur.execute("select name_key, track_key, track_id, mbid from track where name_key = any(%s)", (keys,))
    found: dict[str, list] = {}
    for key, t_key, track_id, mbid in cur.fetchall():
        found.setdefault(key, []).append((t_key, track_id, mbid))
    resolved = {}
    for key, rows in found.items():
        own = [track_id for t_key, track_id, _ in rows if t_key == f"name:{key}"]
        identified = [track_id for _, track_id, mbid in rows if mbid]
        if own:
            resolved[key] = own[0]
        elif len(identified) == 1:
            resolved[key] = identified[0]
    return resolved


def catalogue_listens(cur, listens: list[Listen]) -> list[int]:
    """Upsert artists/releases/tracks for these listens; return each listen's track_id."""
    known = _known_by_name(cur, listens)
    artists: dict[str, tuple[str, str | None]] = {}
    releases: dict[str, tuple[str, str, str | None]] = {}
    tracks: list[TrackRow] = []
    keys: list[str | int] = []
    for listen in listens:
        n_key = name_key(listen.artist_name, listen.track_name)
        if not listen.recording_mbid and n_key in known:
            keys.append(known[n_key])
            continue
        a_key = artist_key(listen.artist_name, listen.artist_mbid)
        artists.setdefault(a_key, (listen.artist_name, listen.artist_mbid))
        r_key = None
        if listen.release_name:
            r_key = release_key(a_key, listen.release_name, listen.release_mbid)
            releases.setdefault(r_key, (listen.release_name, a_key, listen.release_mbid))
        row = TrackRow(track_key(listen.recording_mbid, listen.artist_name, listen.track_name), n_key,
                       listen.track_name, a_key, r_key, listen.recording_mbid, listen.duration_ms)
        tracks.append(row)
        keys.append(row.track_key)
    artist_ids = upsert_artists(cur, artists)
    release_ids = upsert_releases(
        cur, {k: (title, artist_ids[a], mbid) for k, (title, a, mbid) in releases.items()})
    track_ids = upsert_tracks(cur, tracks, artist_ids, release_ids)
    return [key if isinstance(key, int) else track_ids[key] for key in keys]
