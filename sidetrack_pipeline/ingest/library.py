"""The user's local audio library: scan files, reconcile track identities, match files to tracks.

Plain functions over a psycopg2 connection, inside the caller's transaction; each is idempotent,
so any can be re-run. The usual order: `scan_library` (files and their tags), `import_beets`
(identifiers a beets database has and the tags lack), `match_files` (which file each track is),
`match_report` (how much of what you listen to you have).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from psycopg2.extras import Json, execute_values

from sidetrack_pipeline.fsutil import file_sha256
from sidetrack_pipeline.ingest.audio_tags import read_tags
from sidetrack_pipeline.ingest.beets_import import BeetsImportReport, import_beets
from sidetrack_pipeline.ingest.chromaprint import chromaprint, fpcalc_path
from sidetrack_pipeline.ingest.library_matching import MatchReport, match_files
from sidetrack_pipeline.ingest.match_report import MatchRateReport, match_report
from sidetrack_pipeline.sources.listen import normalise

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".aif", ".aiff"}
# audio_file columns that say who the file is (beets may fill those the tags lack).
IDENTITY_FIELDS = ("recording_mbid", "artist_mbid", "release_mbid", "isrc", "artist", "title", "album")

__all__ = ["BeetsImportReport", "LibraryChanges", "MatchRateReport", "MatchReport", "ReconcileReport",
           "ScanReport", "import_beets", "library_changes", "match_files", "match_report",
           "reconcile_catalogue", "scan_library"]


@dataclass
class ScanReport:
    files: int = 0
    hashed: int = 0            # new or changed files read this scan
    removed: int = 0
    unreadable_tags: int = 0   # of those, files without usable tags (broken, or untagged)
    fingerprinted: int = 0     # of those, files given a chromaprint (fpcalc installed)
    skipped: int = 0           # files that could not be read at all (logged; kept if known)


def _identity(tags, old: dict | None) -> tuple[dict, list[str]]:
    """The file's identity fields from its tags; fields beets supplied before and the (changed)
    tags still lack are kept, so re-reading a file never loses what `import_beets` added."""
    values = {"recording_mbid": tags.recording_mbid, "artist_mbid": tags.artist_mbid,
              "release_mbid": tags.release_mbid, "isrc": tags.isrc, "artist": tags.artist,
              "title": tags.title, "album": tags.album}
    from_beets = []
    for name in (old or {}).get("beets_fields") or []:
        if values.get(name) is None and old.get(name) is not None:
            values[name] = old[name]
            from_beets.append(name)
    return values, from_beets


def _audio_paths(root: Path):
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


@dataclass(frozen=True)
class LibraryChanges:
    """Files under a library root that differ from what the last scan recorded."""
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()     # size or mtime differs from the recorded file
    removed: tuple[str, ...] = ()
    settling: tuple[str, ...] = ()    # new, changed or pending, but written too recently (copying?)
    pending: tuple[str, ...] = ()     # scanned as they are now, still waiting for their analysis

    @property
    def to_analyse(self) -> tuple[str, ...]:
        return tuple(sorted(self.new + self.changed + self.pending))

    def fingerprint(self, stats: dict[str, tuple[int, float]]) -> str:
        """One key per distinct state of the changed files (a sensor's run key)."""
        import hashlib

        text = "\n".join(f"{p}\t{stats[p][0]}\t{stats[p][1]}" for p in self.to_analyse)
        text += "\n--removed--\n" + "\n".join(sorted(self.removed))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def library_changes(conn, root: Path, settle_seconds: float = 0.0, now: float | None = None,
                    unanalysed: Iterable[str] = (),
                    ) -> tuple[LibraryChanges, dict[str, tuple[int, float]]]:
    """What `scan_library` would read: new and changed files (by size and mtime, no hashing) and
    files gone from disk, without writing anything. Files modified less than `settle_seconds`
    ago are reported as settling, not changed, so a half-copied album waits for its last file.
    `unanalysed` names files already scanned that still wait for analysis (a scan recorded them
    while they were settling, say); unchanged ones are reported as pending. Returns the changes
    and the (size, mtime) of every file to analyse."""
    import time

    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"audio library {root} is not a folder (not mounted?)")
    now = time.time() if now is None else now
    with conn.cursor() as cur:
        cur.execute("select path, size_bytes, mtime from audio_file")
        known = {path: (size, mtime) for path, size, mtime in cur.fetchall()}
    waiting = set(unanalysed)
    new, changed, pending, settling, stats, seen = [], [], [], [], {}, set()
    for path in _audio_paths(root):
        key = str(path.resolve())
        if key in seen:
            continue
        seen.add(key)
        try:
            stat = path.stat()
        except OSError:
            continue
        state = (stat.st_size, stat.st_mtime)
        unchanged = known.get(key) == state
        if unchanged and key not in waiting:
            continue
        if now - stat.st_mtime < settle_seconds:
            settling.append(key)
            continue
        stats[key] = state
        (pending if unchanged else changed if key in known else new).append(key)
    inside = str(root.resolve()).rstrip(os.sep) + os.sep
    removed = [p for p in known if p not in seen and (p.startswith(inside) or not os.path.exists(p))]
    return LibraryChanges(tuple(new), tuple(changed), tuple(sorted(removed)), tuple(settling),
                          tuple(pending)), stats


def scan_library(conn, root: Path) -> ScanReport:
    """Record every audio file under `root`: path, size, mtime, sha256, tags, duration and (with
    fpcalc) a chromaprint. Only new or changed files (size or mtime) are read and hashed; files
    that vanished from disk are forgotten. A missing `root` (an unmounted disk) is an error,
    not an empty library: nothing is changed."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"audio library {root} is not a folder (not mounted?); nothing was changed")
    report = ScanReport()
    fpcalc = fpcalc_path()
    if fpcalc is None:
        log.info("fpcalc (chromaprint) is not on PATH: no acoustic fingerprints this scan "
                 "(Debian/Ubuntu: apt-get install libchromaprint-tools)")
    with conn.cursor() as cur:
        cur.execute(f"select path, size_bytes, mtime, beets_fields, {', '.join(f'{c}::text' for c in IDENTITY_FIELDS)} "
                    "from audio_file")
        columns = ["path", "size_bytes", "mtime", "beets_fields", *IDENTITY_FIELDS]
        known = {row[0]: dict(zip(columns, row)) for row in cur.fetchall()}
        seen: set[str] = set()
        rows = []
        for path in _audio_paths(root):
            key = str(path.resolve())
            if key in seen:  # a second link to a file already scanned
                continue
            seen.add(key)
            old = known.get(key)
            try:
                key.encode("utf-8")
                stat = path.stat()
                if old and (old["size_bytes"], old["mtime"]) == (stat.st_size, stat.st_mtime):
                    report.files += 1
                    continue
                digest = file_sha256(path)
            except (OSError, UnicodeEncodeError) as exc:
                log.warning("skipping %s: %s", path, exc)
                report.skipped += 1
                continue
            report.files += 1
            report.hashed += 1
            tags = read_tags(path)
            report.unreadable_tags += not tags.identified
            acoustic = chromaprint(path, fpcalc) if fpcalc and tags.readable else None
            report.fingerprinted += acoustic is not None
            values, from_beets = _identity(tags, old)
            rows.append((key, digest, stat.st_size, stat.st_mtime, tags.duration_s,
                         *(values[c] for c in IDENTITY_FIELDS), Json(tags.values), acoustic, from_beets))
        execute_values(cur, f"""
            insert into audio_file (path, content_hash, size_bytes, mtime, duration_s,
                                    {', '.join(IDENTITY_FIELDS)}, tags, chromaprint, beets_fields)
            values %s
            on conflict (path) do update set
                content_hash = excluded.content_hash, size_bytes = excluded.size_bytes,
                mtime = excluded.mtime, duration_s = excluded.duration_s,
                {', '.join(f'{c} = excluded.{c}' for c in IDENTITY_FIELDS)},
                tags = excluded.tags, chromaprint = excluded.chromaprint,
                beets_fields = excluded.beets_fields, scanned_at = now()""", rows)
        # Gone: under this root and not seen, or anywhere and no longer on disk. A file that
        # could not be read this time (skipped) is still there and keeps its row.
        inside = str(root.resolve()).rstrip(os.sep) + os.sep
        vanished = [p for p in known if p not in seen and (p.startswith(inside) or not os.path.exists(p))]
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
