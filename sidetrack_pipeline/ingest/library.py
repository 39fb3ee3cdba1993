"""The user's local audio library: scan files, reconcile track identities, match files to tracks.

Plain functions over a psycopg2 connection; each is idempotent, so any can be re-run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mutagen
from psycopg2.extras import Json, execute_values

from sidetrack_pipeline.fsutil import file_sha256
from sidetrack_pipeline.ingest.catalog import TrackRow, upsert_artists, upsert_releases, upsert_tracks
from sidetrack_pipeline.sources.listen import artist_key, clean_mbid, name_key, normalise, release_key, track_key

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".aif", ".aiff"}


@dataclass
class ScanReport:
    files: int = 0
    hashed: int = 0
    removed: int = 0
    unreadable_tags: int = 0


def read_tags(path: Path) -> tuple[dict, float | None]:
    """Easy tags (lists of strings) and duration; ({}, None) when mutagen cannot parse the file."""
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:  # mutagen raises many types for broken files
        log.warning("cannot read tags of %s: %s", path, exc)
        return {}, None
    if audio is None:
        return {}, None
    tags = {k: [str(v) for v in vals] for k, vals in (audio.tags or {}).items()} if audio.tags else {}
    duration = getattr(audio.info, "length", None)
    return tags, float(duration) if duration else None


def _first(tags: dict, key: str) -> str | None:
    values = tags.get(key) or []
    return values[0].strip() if values and values[0].strip() else None


def scan_library(conn, root: Path) -> ScanReport:
    """Record every audio file under `root` (hashing only new or changed ones); forget vanished ones."""
    report = ScanReport()
    root = Path(root)
    with conn.cursor() as cur:
        cur.execute("select path, size_bytes, mtime from audio_file")
        known = {path: (size, mtime) for path, size, mtime in cur.fetchall()}
        seen: set[str] = set()
        rows = []
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS):
            stat = path.stat()
            key = str(path.resolve())
            seen.add(key)
            report.files += 1
            if known.get(key) == (stat.st_size, stat.st_mtime):
                continue
            tags, duration = read_tags(path)
            report.unreadable_tags += not tags
            report.hashed += 1
            rows.append((key, file_sha256(path), stat.st_size, stat.st_mtime, duration,
                         clean_mbid(_first(tags, "musicbrainz_trackid")), _first(tags, "artist"),
                         _first(tags, "title"), _first(tags, "album"), Json(tags)))
        execute_values(cur, """
            insert into audio_file (path, content_hash, size_bytes, mtime, duration_s, recording_mbid,
                                    artist, title, album, tags)
            values %s
            on conflict (path) do update set
                content_hash = excluded.content_hash, size_bytes = excluded.size_bytes,
                mtime = excluded.mtime, duration_s = excluded.duration_s,
                recording_mbid = excluded.recording_mbid, artist = excluded.artist,
                title = excluded.title, album = excluded.album, tags = excluded.tags,
                scanned_at = now()""", rows)
        vanished = [p for p in known if p not in seen and (p.startswith(str(root.resolve())))]
        if vanished:
            cur.execute("delete from audio_file where path = any(%s)", (vanished,))
            report.removed = len(vanished)
    return report


def _merge_map(rows, group_key) -> list[tuple[int, int]]:
    """(from_id, to_id): each name-only entity → the single MBID entity sharing its group key.
    A group with several MBID entities (two artists of one name) is ambiguous and left alone."""
    groups: dict = {}
    for ident, mbid, *rest in rows:
        groups.setdefault(group_key(*rest), []).append((ident, mbid))
    pairs = []
    for members in groups.values():
        identified = {mbid: ident for ident, mbid in members if mbid}
        if len(identified) == 1:
            target = next(iter(identified.values()))
            pairs += [(ident, target) for ident, mbid in members if not mbid]
    return pairs


def _apply(cur, pairs, updates: list[str], table: str, id_column: str) -> int:
    if not pairs:
        return 0
    cur.execute("create temp table merge_map (from_id int primary key, to_id int) on commit drop")
    execute_values(cur, "insert into merge_map values %s", pairs)
    for sql in updates:
        cur.execute(sql)
    cur.execute(f"delete from {table} where {id_column} in (select from_id from merge_map)")
    merged = cur.rowcount
    cur.execute("drop table merge_map")
    return merged


@dataclass
class ReconcileReport:
    artists: int = 0
    releases: int = 0
    tracks: int = 0


def reconcile_catalogue(conn) -> ReconcileReport:
    """Merge name-only artists, releases and tracks into their MBID-identified twins.

    A client that sent no MBIDs creates `name:` entities; once the same artist, release or
    recording is known by MBID (from another listen or a tagged file), everything that pointed
    at the name-only row moves to the MBID row. Idempotent.
    """
    report = ReconcileReport()
    with conn.cursor() as cur:
        cur.execute("select artist_id, mbid, name from artist")
        report.artists = _apply(cur, _merge_map(cur.fetchall(), normalise), [
            "update track t set artist_id = m.to_id from merge_map m where t.artist_id = m.from_id",
            "update release r set artist_id = m.to_id from merge_map m where r.artist_id = m.from_id",
        ], "artist", "artist_id")
        cur.execute("select release_id, mbid, artist_id, title from release")
        report.releases = _apply(cur, _merge_map(cur.fetchall(), lambda a, t: (a, normalise(t))), [
            "update track t set release_id = m.to_id from merge_map m where t.release_id = m.from_id",
        ], "release", "release_id")
        cur.execute("select track_id, mbid, name_key from track")
        report.tracks = _apply(cur, _merge_map(cur.fetchall(), lambda k: k), [
            # The same play recorded under both identities is one listen.
            """delete from listen l using merge_map m
               where l.track_id = m.from_id and exists (
                   select 1 from listen o
                   where o.user_id = l.user_id and o.track_id = m.to_id and o.played_at = l.played_at)""",
            "update listen l set track_id = m.to_id from merge_map m where l.track_id = m.from_id",
            """update labels_user u set track_id = m.to_id from merge_map m
               where u.track_id = m.from_id and not exists (
                   select 1 from labels_user o where o.user_id = u.user_id and o.track_id = m.to_id
                   and o.axis = u.axis and o.source = u.source)""",
        ], "track", "track_id")
    return report


@dataclass
class MatchReport:
    files: int = 0
    matched_existing: int = 0
    new_tracks: int = 0
    unmatched_tracks: int = 0


def match_files(conn) -> MatchReport:
    """Link each audio file to its track (by recording MBID, else artist+title); files of tracks
    never listened to become catalogue tracks too. Tracks whose file vanished lose their path."""
    report = MatchReport()
    with conn.cursor() as cur:
        cur.execute("""select path, content_hash, duration_s, recording_mbid::text, artist, title, album,
                              tags->'musicbrainz_artistid'->>0, tags->'musicbrainz_albumid'->>0
                       from audio_file where artist is not null and title is not null order by path""")
        files = cur.fetchall()
        report.files = len(files)
        cur.execute("select track_key, track_id from track where mbid is not null")
        by_mbid_key = dict(cur.fetchall())
        cur.execute("select name_key, min(track_id) from track group by name_key")
        by_name = dict(cur.fetchall())

        artists, releases, new_rows, links = {}, {}, [], []
        for path, digest, duration, mbid, artist, title, album, artist_tag, album_tag in files:
            artist_mbid, release_mbid = clean_mbid(artist_tag), clean_mbid(album_tag)
            key = track_key(mbid, artist, title)
            track_id = by_mbid_key.get(key) if mbid else None
            track_id = track_id or by_name.get(name_key(artist, title))
            if track_id is None:
                a_key = artist_key(artist, artist_mbid)
                artists.setdefault(a_key, (artist, artist_mbid))
                r_key = release_key(a_key, album, release_mbid) if album else None
                if r_key:
                    releases.setdefault(r_key, (album, a_key, release_mbid))
                new_rows.append(TrackRow(key, name_key(artist, title), title, a_key, r_key, mbid,
                                         int(duration * 1000) if duration else None))
            links.append((key, track_id, path, digest, duration))

        if new_rows:
            artist_ids = upsert_artists(cur, artists)
            release_ids = upsert_releases(
                cur, {k: (t, artist_ids[a], m) for k, (t, a, m) in releases.items()})
            created = upsert_tracks(cur, new_rows, artist_ids, release_ids)
            report.new_tracks = len(created)
        else:
            created = {}

        cur.execute("update track set local_path = null, fingerprint = null where local_path is not null")
        claimed: set[int] = set()
        updates = []
        for key, track_id, path, digest, duration in links:
            track_id = track_id or created[key]
            if track_id in claimed:   # two files of one recording: the first (by path) wins
                continue
            claimed.add(track_id)
            updates.append((track_id, path, digest, int(duration * 1000) if duration else None))
        execute_values(cur, """
            update track t set local_path = v.path, fingerprint = v.digest,
                               duration_ms = coalesce(t.duration_ms, v.duration_ms::int)
            from (values %s) as v(track_id, path, digest, duration_ms)
            where t.track_id = v.track_id""", updates)
        report.matched_existing = len(updates) - report.new_tracks
        cur.execute("select count(*) from track t where local_path is null "
                    "and exists (select 1 from listen l where l.track_id = t.track_id)")
        report.unmatched_tracks = cur.fetchone()[0]
    return report
