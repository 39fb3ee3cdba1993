"""Import a user's Last.fm scrobbles page by page, resumably, through the shared listen writer.

Last.fm pages are newest first, so a scrobble arriving while we page would shift every later
page by one. Each sync therefore fixes its window once: `to` = the time the sync started (or the
caller's `to_ts`), `from` = the newest scrobble time of the last complete sync (or the caller's
`from_ts`; none on the first sync). Within a fixed window the pages hold still.

Every page is written with `write_listens(..., "lastfm")` (exact duplicates skipped, plays that
ListenBrainz already has are merged) and committed together with the cursor in `sync_cursor`
(source 'lastfm'), so a crash or a failed request resumes at the page after the last committed
one. A `sync_run` row records each sync. This function commits on `conn` (one commit per page);
it holds a PostgreSQL advisory lock so two syncs of the same user never run at once.

The cursor (jsonb):
    {"lastfm_user": str,
     "newest_uts": int | null,   # newest scrobble of the last complete sync: the next `from`
     "pending": null | {"from": int | null, "to": int, "next_page": int,
                        "newest_seen": int | null, "advance": bool}}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg2.extras import Json

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.listen_writer import write_listens
from sidetrack_pipeline.sources.lastfm import MAX_PAGE_SIZE, LastfmClient, LastfmUnavailable

SOURCE = "lastfm"


class SyncAlreadyRunning(RuntimeError):
    """Another Last.fm sync of the same user holds the lock."""


@dataclass
class LastfmImportReport:
    user: str
    lastfm_user: str
    mode: str = "full"               # 'full' (no lower bound) or 'incremental'
    run_id: int | None = None
    from_ts: int | None = None
    to_ts: int | None = None
    first_page: int = 1              # > 1 when an interrupted sync was resumed
    total_pages: int = 0
    pages: int = 0                   # pages fetched and committed by this call
    fetched: int = 0                 # listens read (now-playing entries excluded)
    inserted: int = 0
    duplicates: int = 0              # already stored from Last.fm
    merged: int = 0                  # the same play already stored from ListenBrainz
    now_playing_skipped: int = 0
    rejected: list[str] = field(default_factory=list)  # entries that could not be listens

    def summary(self) -> str:
        return (f"Last.fm {self.lastfm_user} -> {self.user} ({self.mode}): {self.pages} pages, "
                f"fetched {self.fetched}, inserted {self.inserted}, duplicates {self.duplicates}, "
                f"merged {self.merged}, rejected {len(self.rejected)}")


@dataclass
class _Window:
    from_ts: int | None
    to_ts: int
    next_page: int
    newest_seen: int | None
    advance: bool  # whether completing it moves `newest_uts` (it covers everything up to now)

    def as_json(self) -> dict:
        return {"from": self.from_ts, "to": self.to_ts, "next_page": self.next_page,
                "newest_seen": self.newest_seen, "advance": self.advance}


def _plan(cursor: dict, from_ts: int | None, to_ts: int | None, now: int) -> _Window:
    """Resume the pending window when the caller asks for the same (or nothing in particular)."""
    pending = cursor.get("pending")
    if pending:
        same = (from_ts is None and to_ts is None) or (
            from_ts == pending["from"] and to_ts == pending["to"])
        if same:
            return _Window(pending["from"], pending["to"], pending["next_page"],
                           pending.get("newest_seen"), pending.get("advance", False))
    stored = cursor.get("newest_uts")
    start = from_ts if from_ts is not None else stored
    # Moving newest_uts is right only if nothing between it and now is left out.
    advance = to_ts is None and (from_ts is None or stored is None or from_ts <= stored)
    return _Window(start, to_ts if to_ts is not None else now, 1, None, advance)


@contextmanager
def _sync_lock(conn, user_id: int):
    with conn.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(hashtext('sidetrack.lastfm_sync'), %s)", (user_id,))
        got = cur.fetchone()[0]
    conn.commit()
    if not got:
        raise SyncAlreadyRunning(f"a Last.fm sync for user id {user_id} is already running")
    try:
        yield
    finally:
        if conn.closed == 0:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("select pg_advisory_unlock(hashtext('sidetrack.lastfm_sync'), %s)", (user_id,))
            conn.commit()


def _load_cursor(cur, user_id: int) -> dict:
    cur.execute("select cursor from sync_cursor where user_id = %s and source = %s", (user_id, SOURCE))
    row = cur.fetchone()
    return row[0] if row and isinstance(row[0], dict) else {}


def _save_cursor(cur, user_id: int, cursor: dict) -> None:
    cur.execute(
        """insert into sync_cursor (user_id, source, cursor) values (%s, %s, %s)
           on conflict (user_id, source) do update set cursor = excluded.cursor, updated_at = now()""",
        (user_id, SOURCE, Json(cursor)))


def import_lastfm(conn, user_name: str, client: LastfmClient, lastfm_user: str,
                  from_ts: int | None = None, to_ts: int | None = None,
                  on_page: Callable[[LastfmImportReport], None] | None = None,
                  page_size: int = MAX_PAGE_SIZE) -> LastfmImportReport:
    """Fetch `lastfm_user`'s scrobbles into SideTrack user `user_name`; see the module docstring.

    `on_page(report)` is called after each committed page. Client errors (not found, private
    profile, invalid key, still unavailable after retries) mark the sync_run failed, keep the
    cursor at the first unwritten page and are raised.
    """
    if not lastfm_user or not lastfm_user.strip():
        raise ValueError("no Last.fm user name given")
    lastfm_user = lastfm_user.strip()
    with conn.cursor() as cur:
        user_id = ensure_user(cur, user_name)
    conn.commit()
    with _sync_lock(conn, user_id):
        with conn.cursor() as cur:
            cursor = _load_cursor(cur, user_id)
            if cursor.get("lastfm_user") != lastfm_user:  # another account: start from scratch
                cursor = {"lastfm_user": lastfm_user, "newest_uts": None, "pending": None}
            window = _plan(cursor, from_ts, to_ts, int(time.time()))
            report = LastfmImportReport(
                user=user_name, lastfm_user=lastfm_user,
                mode="incremental" if window.from_ts is not None else "full",
                from_ts=window.from_ts, to_ts=window.to_ts, first_page=window.next_page)
            cur.execute("insert into sync_run (user_id, source, mode) values (%s, %s, %s) returning run_id",
                        (user_id, SOURCE, report.mode))
            report.run_id = cur.fetchone()[0]
            cursor["pending"] = window.as_json()
            _save_cursor(cur, user_id, cursor)
        conn.commit()
        try:
            _page_through(conn, client, user_id, cursor, window, report, on_page, page_size)
        except BaseException as exc:
            _mark_failed(conn, report.run_id, exc)
            raise
    return report


def _page_through(conn, client, user_id, cursor, window, report, on_page, page_size) -> None:
    while True:
        page_no = window.next_page
        page = client.recent_tracks(report.lastfm_user, page=page_no, limit=page_size,
                                    from_ts=window.from_ts, to_ts=window.to_ts)
        empty = not page.listens and not page.rejected
        if empty and page_no < page.total_pages:
            raise LastfmUnavailable(f"page {page_no} of {page.total_pages} came back empty; "
                                    f"the next sync resumes at this page", method="user.getRecentTracks")
        last = empty or page_no >= page.total_pages
        newest = max((int(l.played_at.timestamp()) for l in page.listens), default=None)
        if newest is not None:
            window.newest_seen = max(newest, window.newest_seen or newest)
        with conn.cursor() as cur:
            written = write_listens(cur, user_id, page.listens, SOURCE)
            if last:
                if window.advance and window.newest_seen is not None:
                    cursor["newest_uts"] = max(window.newest_seen, cursor.get("newest_uts") or 0)
                cursor["pending"] = None
            else:
                window.next_page = page_no + 1
                cursor["pending"] = window.as_json()
            _save_cursor(cur, user_id, cursor)
            cur.execute(
                """update sync_run set pages = pages + 1, fetched = fetched + %s, inserted = inserted + %s,
                       duplicates = duplicates + %s, merged = merged + %s,
                       status = case when %s then 'ok' else status end,
                       finished_at = case when %s then now() else finished_at end
                   where run_id = %s""",
                (len(page.listens), written.inserted, written.duplicates, written.merged,
                 last, last, report.run_id))
        conn.commit()
        report.total_pages = page.total_pages
        report.pages += 1
        report.fetched += len(page.listens)
        report.inserted += written.inserted
        report.duplicates += written.duplicates
        report.merged += written.merged
        report.now_playing_skipped += page.now_playing
        report.rejected.extend(page.rejected)
        if on_page is not None:
            on_page(report)
        if last:
            return


def _mark_failed(conn, run_id: int, exc: BaseException) -> None:
    """Record the failure on the sync_run row; never hides the original error."""
    if conn.closed:
        return
    try:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("""update sync_run set status = 'failed', finished_at = now(), error = %s
                           where run_id = %s""", (f"{type(exc).__name__}: {exc}"[:2000], run_id))
        conn.commit()
    except Exception:  # noqa: BLE001 - the original exception is the one worth raising
        pass
