"""Per-user state of a SideTrack database, for `sidetrack status`: the latest sync of each
listening source, listens, and the backlog of audio analysis (tracks listened to whose local file
is not analysed yet, and files under AUDIO_ROOT not scanned yet). Reads only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sidetrack_pipeline.ingest.library import library_changes


@dataclass
class SourceSync:
    source: str
    account: str | None             # the account configured for this source (None: not set up)
    last_status: str | None = None  # ok | failed | running; None: never synced
    last_finished: dt.datetime | None = None
    last_ok: dt.datetime | None = None
    last_inserted: int = 0
    last_error: str | None = None


@dataclass
class UserStatus:
    user_name: str
    timezone: str
    listens: int
    last_listen: dt.datetime | None
    sources: list[SourceSync] = field(default_factory=list)
    tracks_listened: int = 0
    tracks_awaiting_analysis: int = 0   # a local file is matched, features not current yet
    tracks_failed_analysis: int = 0     # the file failed (analysis_error on record)
    tracks_without_file: int = 0        # listened to, no local file matched


@dataclass
class LibraryBacklog:
    root: str
    mounted: bool
    unscanned_files: int = 0            # new or changed on disk since the last scan
    removed_files: int = 0
    files_awaiting_analysis: int = 0    # scanned and matched, not analysed with this analyser


SOURCES = (("listenbrainz", "listenbrainz_user"), ("lastfm", "lastfm_user"))


def user_statuses(conn, analyzer_version: str) -> list[UserStatus]:
    with conn.cursor() as cur:
        cur.execute("""
            select u.user_id, u.user_name, u.timezone, count(l.*), max(l.played_at),
                   s.listenbrainz_user, s.lastfm_user
            from users u
            left join listen l on l.user_id = u.user_id
            left join user_settings s on s.user_id = u.user_id
            group by u.user_id, s.listenbrainz_user, s.lastfm_user order by u.user_name""")
        users = cur.fetchall()
        cur.execute("""
            select distinct on (user_id, source) user_id, source, status, finished_at, inserted, error
            from sync_run order by user_id, source, run_id desc""")
        latest = {(u, s): rest for u, s, *rest in cur.fetchall()}
        cur.execute("""select user_id, source, max(finished_at) from sync_run where status = 'ok'
                       group by user_id, source""")
        last_ok = {(u, s): t for u, s, t in cur.fetchall()}
        cur.execute("""
            select l.user_id, count(*),
                   count(*) filter (where t.local_path is not null and f.track_id is null and e.path is null),
                   count(*) filter (where t.local_path is not null and f.track_id is null and e.path is not null),
                   count(*) filter (where t.local_path is null)
            from (select distinct user_id, track_id from listen) l
            join track t using (track_id)
            left join features f on f.track_id = t.track_id and f.content_hash = t.fingerprint
                                and f.analyzer_version = %(v)s
            left join analysis_error e on e.path = t.local_path and e.content_hash = t.fingerprint
                                      and e.analyzer_version = %(v)s
            group by l.user_id""", {"v": analyzer_version})
        backlog = {u: rest for u, *rest in cur.fetchall()}
    out = []
    for user_id, name, tz, listens, last_listen, lb_user, fm_user in users:
        accounts = {"listenbrainz_user": lb_user, "lastfm_user": fm_user}
        sources = []
        for source, column in SOURCES:
            status, finished, inserted, error = latest.get((user_id, source), (None, None, 0, None))
            sources.append(SourceSync(source, accounts[column], status, finished, last_ok.get((user_id, source)),
                                      inserted or 0, error))
        tracks, waiting, failed, no_file = backlog.get(user_id, (0, 0, 0, 0))
        out.append(UserStatus(name, tz, listens, last_listen, sources, tracks, waiting, failed, no_file))
    return out


def library_backlog(conn, root: Path, analyzer_version: str) -> LibraryBacklog:
    from sidetrack_pipeline.scoring.store import tracks_to_analyze

    backlog = LibraryBacklog(str(root), Path(root).is_dir())
    if backlog.mounted:
        changes, _ = library_changes(conn, root)
        backlog.unscanned_files = len(changes.to_analyse) + len(changes.settling)
        backlog.removed_files = len(changes.removed)
    with conn.cursor() as cur:
        backlog.files_awaiting_analysis = len(tracks_to_analyze(cur, analyzer_version))
    return backlog
