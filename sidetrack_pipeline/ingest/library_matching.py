"""Link the scanned files to catalogue tracks and record how (database side of `file_matching`).

Listened tracks get their file by mbid, isrc, fuzzy name or fingerprint (`assign_files`). Files
left over join the catalogue as tracks nobody has listened to yet (method 'library'), so the
taste map can place them, unless they name a listened track that did not take them (a
duplicate, or an edit the duration check refused): those stay unused rather than being forced
onto that track.

Results land in `file_match` (method, score) and in `track.local_path` / `track.fingerprint`
(the sha256 the analysis keys on). Only what changed is written, so a re-run changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from psycopg2.extras import execute_values

from sidetrack_pipeline.ingest.catalog import TrackRow, upsert_artists, upsert_releases, upsert_tracks
from sidetrack_pipeline.ingest.file_matching import LibraryFile, ListenedTrack, assign_files
from sidetrack_pipeline.sources.isrc import clean_isrc
from sidetrack_pipeline.sources.listen import artist_key, name_key, release_key, track_key

log = logging.getLogger(__name__)


@dataclass
class MatchReport:
    files: int = 0
    matched_existing: int = 0      # existing tracks given a file
    new_tracks: int = 0            # tracks created from files nobody has listened to
    unmatched_tracks: int = 0      # listened tracks without a file
    by_method: dict[str, int] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)        # ties decided by path / listens
    rejected: dict[str, int] = field(default_factory=dict)    # name matches refused: duration, version
    untagged_files: int = 0        # no recording id, ISRC or artist + title (only a moved file's bytes can match)
    unused_files: int = 0          # identified, yet no track's (duplicates, refused edits)
    changed: int = 0               # tracks whose file or match changed in this run


@dataclass(frozen=True)
class _FileRow:
    file: LibraryFile
    album: str | None
    artist_mbid: str | None
    release_mbid: str | None

    @property
    def identified(self) -> bool:
        f = self.file
        return bool(f.recording_mbid or f.isrc or (f.artist and f.title))


def _load_files(cur) -> list[_FileRow]:
    cur.execute("""select path, content_hash, duration_s, recording_mbid::text, isrc, artist, title,
                          album, artist_mbid::text, release_mbid::text
                   from audio_file order by path""")
    return [_FileRow(LibraryFile(*row[:7]), *row[7:]) for row in cur.fetchall()]


def _load_listened_tracks(cur) -> list[ListenedTrack]:
    cur.execute("""select t.track_id, a.name, t.title, t.mbid::text, t.isrcs, t.duration_ms,
                          l.listens, t.local_path, t.fingerprint
                   from track t join artist a on a.artist_id = t.artist_id
                   join (select track_id, count(*) as listens from listen group by track_id) l
                        on l.track_id = t.track_id
                   order by t.track_id""")
    return [ListenedTrack(track_id, artist, title, mbid,
                          tuple(sorted({i for i in map(clean_isrc, isrcs or []) if i})),
                          duration_ms / 1000 if duration_ms else None, listens, path, digest)
            for track_id, artist, title, mbid, isrcs, duration_ms, listens, path, digest in cur.fetchall()]


def _catalogue_leftovers(cur, leftovers: list[_FileRow], listened: set[int], taken: set[int],
                         report: MatchReport) -> dict[int, str]:
    """{track_id: path} for identified files no listened track took: an existing unlistened track
    of the same identity, else a new one. A file naming a listened track stays unused."""
    cur.execute("select track_id, track_key, name_key from track")
    by_key, by_name = {}, defaultdict(list)
    for track_id, t_key, n_key in cur.fetchall():
        by_key[t_key] = track_id
        by_name[n_key].append(track_id)
    links: dict[int, str] = {}
    artists, releases, new_rows, new_paths = {}, {}, [], {}
    for row in leftovers:
        f = row.file
        if not (f.artist and f.title):
            report.unused_files += 1   # an identifier alone names no catalogue track
            continue
        key, n_key = track_key(f.recording_mbid, f.artist, f.title), name_key(f.artist, f.title)
        if listened.intersection(by_name.get(n_key, ())):
            # It names a listened track that did not take it (a duplicate, or an edit the
            # duration check refused). As a new track it would be worse than unused: name-only
            # listens of that name would be reconciled onto it.
            report.unused_files += 1
            continue
        existing = by_key.get(key)
        if existing is None and not f.recording_mbid and by_name.get(n_key):
            same_name = sorted(by_name[n_key])   # library-only tracks of that name
            existing = next((t for t in same_name if t not in taken), same_name[0])
        if existing is not None:
            if existing in listened or existing in taken:
                report.unused_files += 1   # a second file of one recording
            else:
                taken.add(existing)
                links[existing] = f.path
            continue
        if key in new_paths:
            report.unused_files += 1   # a second file of a new track
            continue
        a_key = artist_key(f.artist, row.artist_mbid)
        artists.setdefault(a_key, (f.artist, row.artist_mbid))
        r_key = release_key(a_key, row.album, row.release_mbid) if row.album else None
        if r_key:
            releases.setdefault(r_key, (row.album, a_key, row.release_mbid))
        new_rows.append(TrackRow(key, n_key, f.title, a_key, r_key, f.recording_mbid,
                                 round(f.duration_s * 1000) if f.duration_s else None))
        new_paths[key] = f.path
    if new_rows:
        artist_ids = upsert_artists(cur, artists)
        release_ids = upsert_releases(cur, {k: (t, artist_ids[a], m) for k, (t, a, m) in releases.items()})
        created = upsert_tracks(cur, new_rows, artist_ids, release_ids)
        report.new_tracks = len(created)
        links.update({created[key]: path for key, path in new_paths.items()})
    return links


def _write(cur, wanted: dict[int, tuple[str, str, float]], hashes: dict[str, str]) -> int:
    """Make file_match and track.local_path/fingerprint say `wanted`; touch only what differs."""
    cur.execute("select track_id, path, method, score from file_match")
    current = {t: (p, m, s) for t, p, m, s in cur.fetchall()}
    stale = [t for t, v in current.items() if wanted.get(t) != v]
    fresh = [(t, *v) for t, v in wanted.items() if current.get(t) != v]
    if stale:
        cur.execute("delete from file_match where track_id = any(%s)", (stale,))
    execute_values(cur, "insert into file_match (track_id, path, method, score) values %s", fresh)

    cur.execute("select track_id, local_path, fingerprint from track where local_path is not null")
    linked = {t: (p, h) for t, p, h in cur.fetchall()}
    files = {t: (p, hashes[p]) for t, (p, _, _) in wanted.items()}
    # Clear first: local_path is unique, and a file may move from one track to another.
    clear = [t for t, v in linked.items() if files.get(t) != v]
    if clear:
        cur.execute("update track set local_path = null, fingerprint = null where track_id = any(%s)", (clear,))
    execute_values(cur, """update track t set local_path = v.path, fingerprint = v.digest
                           from (values %s) as v(track_id, path, digest) where t.track_id = v.track_id""",
                   [(t, p, h) for t, (p, h) in files.items() if linked.get(t) != (p, h)])
    return len(set(stale) | {row[0] for row in fresh} | set(clear))


def match_files(conn) -> MatchReport:
    """Link each listened track to its file (mbid, isrc, fuzzy, fingerprint: see `file_matching`);
    files left over become tracks nobody has listened to yet. Tracks whose file vanished, or no
    longer matches, lose it. Idempotent: a re-run with nothing new changes nothing."""
    report = MatchReport()
    with conn.cursor() as cur:
        rows = _load_files(cur)
        tracks = _load_listened_tracks(cur)
        report.files = len(rows)
        report.untagged_files = sum(not r.identified for r in rows)
        assignment = assign_files(tracks, [r.file for r in rows])
        wanted = {m.track_id: (m.path, m.method, m.score) for m in assignment.matches}
        for m in assignment.matches:
            report.by_method[m.method] = report.by_method.get(m.method, 0) + 1
        report.ambiguous, report.rejected = assignment.ambiguous, assignment.rejected
        report.unmatched_tracks = len(tracks) - len(assignment.matches)

        used = {path for path, _, _ in wanted.values()}
        leftovers = [r for r in rows if r.identified and r.file.path not in used]
        links = _catalogue_leftovers(cur, leftovers, {t.track_id for t in tracks}, set(wanted), report)
        wanted.update({track_id: (path, "library", 100.0) for track_id, path in links.items()})
        if links:
            report.by_method["library"] = len(links)
        report.matched_existing = len(wanted) - report.new_tracks
        report.changed = _write(cur, wanted, {r.file.path: r.file.content_hash for r in rows})
    log.info("matched files: %s; %d listened tracks without a file, %d ambiguous, %d untagged files",
             report.by_method, report.unmatched_tracks, len(report.ambiguous), report.untagged_files)
    return report
