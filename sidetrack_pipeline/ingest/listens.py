"""Import a ListenBrainz export: every valid line once, every bad line reported, all or nothing.

The whole import is one transaction, so a crash or a kill leaves the database as it was; the
unique key on (user, track, played_at) makes a re-import insert nothing new, and the same export
file (by content) keeps one `listen_import` row however often it is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from psycopg2.extras import execute_values

from sidetrack_pipeline.ingest.catalog import TrackRow, ensure_user, upsert_artists, upsert_releases, upsert_tracks
from sidetrack_pipeline.sources.listen import Listen, artist_key, name_key, release_key, track_key
from sidetrack_pipeline.sources.listenbrainz_export import ParsedLine, Rejected, export_fingerprint, read_export


@dataclass
class ImportReport:
    user: str
    path: str
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    import_id: int | None = None

    def summary(self) -> str:
        return (f"{self.path}: read {self.read} lines, inserted {self.inserted} listens, "
                f"skipped {self.duplicates} duplicates, rejected {len(self.rejected)} lines")


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


def _catalogue(cur, listens: list[Listen]) -> list[int]:
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


def import_listenbrainz_export(conn, user_name: str, path: Path, timezone: str | None = None,
                               source: str = "listenbrainz") -> ImportReport:
    """Import one export for `user_name` inside the caller's transaction (`conn` is psycopg2)."""
    report = ImportReport(user=user_name, path=str(path))
    parsed: list[ParsedLine] = []
    for item in read_export(Path(path)):
        report.read += 1
        if isinstance(item, Rejected):
            report.rejected.append(item)
        else:
            parsed.append(item)

    with conn.cursor() as cur:
        user_id = ensure_user(cur, user_name, timezone)
        cur.execute(
            """insert into listen_import (user_id, source, content_hash, path) values (%s, %s, %s, %s)
               on conflict (user_id, source, content_hash)
               do update set path = excluded.path, imported_at = now()
               returning import_id""",
            (user_id, source, export_fingerprint(Path(path)), str(path)))
        report.import_id = cur.fetchone()[0]
        cur.execute("delete from listen_reject where import_id = %s", (report.import_id,))
        track_ids = _catalogue(cur, [p.listen for p in parsed])
        rows = [(user_id, track_id, p.listen.played_at, source, p.listen.recording_msid, report.import_id)
                for p, track_id in zip(parsed, track_ids)]
        inserted = execute_values(
            cur,
            """insert into listen (user_id, track_id, played_at, source, recording_msid, import_id)
               values %s on conflict on constraint listen_once do nothing returning 1""",
            rows, page_size=2000, fetch=True)
        report.inserted = len(inserted)
        report.duplicates = len(rows) - report.inserted
        execute_values(
            cur,
            "insert into listen_reject (import_id, file, line_no, reason, raw) values %s",
            [(report.import_id, r.file, r.line_no, r.reason, r.raw) for r in report.rejected])
        cur.execute(
            """update listen_import set lines_read = %s, inserted = %s, duplicates = %s, rejected = %s
               where import_id = %s""",
            (report.read, report.inserted, report.duplicates, len(report.rejected), report.import_id))
    return report
