"""An exact, resumable sync of a user's ListenBrainz listens into the database.

**Identity of a play.** ListenBrainz keeps one listen per (user, listened_at, recording_msid); a
recording_msid stands for one submitted (artist, title, release). SideTrack stores one listen per
(user, track, second) (`listen_once`), so two listens that resolve to the same track in the same
second are one play here: the second is counted as a duplicate, never stored twice.

**Phases.**

1. *Backfill* (the first run, mode 'full'): pages backwards from the newest listen, 1000 at a
   time. `max_ts` is exclusive and several listens can share one second, so after a full page
   whose oldest second is T the next request asks `max_ts = T + 1` (second T may have been cut
   off by the count) and drops the listens of second T it already stored. A full page that lies
   entirely inside one second T is fetched alone (`min_ts = T - 1, max_ts = T + 1`). The API
   returns at most 1000 listens per request and cannot page inside one second, so a second
   holding 1000 or more listens cannot be read completely: the sync stops with `CrowdedSecond`
   (everything newer stays stored) unless `allow_capped_seconds=True`, which stores the 1000 the
   API gives, lists the second in `report.capped_seconds` and goes on. Only an empty page ends
   the backfill: a short page is not taken to mean the history is exhausted, and neither is
   `oldest_listen_ts` (answers may be cached for an hour), at the price of one more request.
2. *Incremental* (every later run, and straight after the backfill): pages forwards with only
   `min_ts` (the server gives the `count` listens just after it) from the newest stored second,
   which is asked again so that listens arriving later in that same second are not missed; it
   ends when an answer brings nothing newer than that second.

**Cursor** (`listenbrainz_cursor.py`): where the backfill stands (and the newest second seen, where
the incremental phase will start), or where the incremental phase stands, with the keys already
stored at the boundary second. It is written in the same transaction as the page of listens it
describes, then committed, so a crash at any moment neither skips nor repeats listens.

**Counts** (report and `sync_run`): `pages` answers of /listens; `fetched` listens received;
`refetched` of those, the listens received again (a boundary second asked again, a crowded page
replaced by its second fetched alone, a rejected listen seen again) and skipped (report only);
`inserted`, `duplicates` (already stored from ListenBrainz), `merged` (already stored from another
source) as `write_listens` says; `rejected` listens that could not be parsed (report only, each
counted once). fetched = refetched + rejected + inserted + duplicates + merged.

A failed sync marks its `sync_run` 'failed' with the error in a transaction of its own and keeps
every page committed before the failure. A PostgreSQL advisory lock keeps two syncs of one user
from running at once; a `sync_run` left 'running' by a killed process is marked failed by the next
sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.listenbrainz_cursor import (
    SOURCE, Cursor, listen_key, load_cursor, save_cursor)
from sidetrack_pipeline.ingest.listen_writer import WriteReport, write_listens
from sidetrack_pipeline.sources.listen import Listen
from sidetrack_pipeline.sources.listenbrainz_api import (
    MAX_LISTENS_PER_REQUEST, ListenBrainzClient, ListensPage, RejectedListen)

log = logging.getLogger(__name__)

_LOCK = "sidetrack.listenbrainz_sync"


class SyncError(RuntimeError):
    """The sync cannot go on (see the message); what was committed before stays."""


class SyncAlreadyRunning(SyncError):
    pass


class CrowdedSecond(SyncError):
    """One second holds at least as many listens as the API returns per request."""

    def __init__(self, lb_user: str, second: int):
        when = datetime.fromtimestamp(second, tz=timezone.utc).isoformat()
        super().__init__(
            f"ListenBrainz user {lb_user!r} has {MAX_LISTENS_PER_REQUEST} or more listens at the "
            f"same second {second} ({when}). The API returns at most {MAX_LISTENS_PER_REQUEST} "
            "listens per request and cannot page inside one second, so some of them cannot be "
            "fetched. The sync stopped at that second: every newer listen is stored, and so may be "
            "some of that second's (those are not lost on a rerun). Import a "
            "ListenBrainz export for the complete history, or sync with allow_capped_seconds=True "
            f"to store the {MAX_LISTENS_PER_REQUEST} the API gives for that second and go on.")
        self.second = second


@dataclass
class SyncReport:
    user: str
    lb_user: str
    mode: str = "full"            # 'full' (backfill, then incremental) or 'incremental'
    run_id: int | None = None
    phase: str = "backfill"       # where the cursor stands now
    pages: int = 0
    fetched: int = 0
    refetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    merged: int = 0
    rejected: list[RejectedListen] = field(default_factory=list)
    capped_seconds: list[int] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> str:
        return (f"ListenBrainz {self.lb_user} -> {self.user} ({self.mode}): {self.pages} pages, "
                f"fetched {self.fetched}, inserted {self.inserted}, duplicates {self.duplicates}, "
                f"merged {self.merged}, rejected {len(self.rejected)}"
                + (f", capped seconds {self.capped_seconds}" if self.capped_seconds else "")
                + (f"; FAILED: {self.error}" if self.error else ""))


def _reject_key(rejected: RejectedListen) -> str:
    return rejected.recording_msid or f"rejected:{rejected.reason}"


def _ts(listen: Listen) -> int:
    return int(listen.played_at.timestamp())


def _keys_at(page: ListensPage, second: int) -> set[str]:
    return ({listen_key(lst) for lst in page.listens if _ts(lst) == second}
            | {_reject_key(r) for r in page.rejected if r.listened_at == second})


class _Sync:
    """One run: fetches pages, writes them with the cursor, keeps the report."""

    def __init__(self, conn, client: ListenBrainzClient, user_id: int, report: SyncReport,
                 on_page: Callable[[SyncReport], None] | None, allow_capped_seconds: bool,
                 page_size: int):
        self.conn, self.client, self.user_id, self.report = conn, client, user_id, report
        self.on_page, self.allow_capped = on_page, allow_capped_seconds
        self.page_size = page_size
        self._rejected_seen: set[tuple[int, str]] = set()
        self._unreported = 0  # listens of the last answer not yet counted (rejections are)

    # -- fetching --------------------------------------------------------------------------------

    def fetch(self, **bounds) -> ListensPage:
        return self._fetch(count=self.page_size, **bounds)

    def _fetch(self, **params) -> ListensPage:
        page = self.client.get_listens(self.report.lb_user, **params)
        self.report.pages += 1
        self.report.fetched += len(page)
        new_rejections = 0
        for rejected in page.rejected:
            if (rejected.listened_at, _reject_key(rejected)) not in self._rejected_seen:
                self._rejected_seen.add((rejected.listened_at, _reject_key(rejected)))
                self.report.rejected.append(rejected)
                new_rejections += 1
                log.warning("ListenBrainz listen at %s (msid %s) skipped: %s",
                            rejected.listened_at, rejected.recording_msid, rejected.reason)
        self._unreported = len(page) - new_rejections  # what refetched/written must account for
        return page

    def whole_second(self, crowded: ListensPage) -> ListensPage:
        """Every listen of the crowded page's second, or CrowdedSecond when the API cannot give them all."""
        second = crowded.timestamps[0]
        self.report.refetched += self._unreported  # all of them come again in the answer below
        page = self._fetch(min_ts=second - 1, max_ts=second + 1, count=MAX_LISTENS_PER_REQUEST)
        if len(page) >= MAX_LISTENS_PER_REQUEST:
            if not self.allow_capped:
                raise CrowdedSecond(self.report.lb_user, second)
            log.warning("ListenBrainz second %s holds %s+ listens: storing the %s the API gives",
                        second, MAX_LISTENS_PER_REQUEST, len(page))
            self.report.capped_seconds.append(second)
        return page

    def is_crowded(self, page: ListensPage) -> bool:
        """A full page inside one second: that second may hold more than the page."""
        return len(page) >= self.page_size and page.timestamps[0] == page.timestamps[-1]

    # -- writing ---------------------------------------------------------------------------------

    def store(self, page: ListensPage, cursor: Cursor, skip_second: int | None,
              skip_keys: Iterable[str]) -> None:
        """Write the page's listens (less those already stored at `skip_second`) with the cursor."""
        skip = set(skip_keys)
        fresh = [lst for lst in page.listens
                 if not (_ts(lst) == skip_second and listen_key(lst) in skip)]
        self.report.refetched += self._unreported - len(fresh)
        with self.conn.cursor() as cur:
            written = write_listens(cur, self.user_id, fresh, SOURCE)
            save_cursor(cur, self.user_id, cursor)
            self._save_counts(cur, written)
        self.conn.commit()
        self._count(written)
        self.report.phase = cursor.phase
        if self.on_page is not None:
            self.on_page(self.report)

    def _save_counts(self, cur, written: WriteReport) -> None:
        r = self.report
        cur.execute("""update sync_run set pages = %s, fetched = %s, inserted = %s, duplicates = %s,
                                          merged = %s
                       where run_id = %s""",
                    (r.pages, r.fetched, r.inserted + written.inserted,
                     r.duplicates + written.duplicates, r.merged + written.merged, r.run_id))

    def _count(self, written: WriteReport) -> None:
        self.report.inserted += written.inserted
        self.report.duplicates += written.duplicates
        self.report.merged += written.merged

    # -- the two phases --------------------------------------------------------------------------

    def backfill(self, cursor: Cursor) -> None:
        while cursor.phase == "backfill":
            page = self.fetch(max_ts=cursor.max_ts)
            skip_second, skip_keys = (cursor.max_ts - 1 if cursor.max_ts else None), cursor.boundary
            if not page:
                if cursor.newest is None:
                    return  # no listens at all: the next run starts over (cheaply)
                self._to_incremental(cursor)
                self.store(page, cursor, None, ())
                return
            crowded = self.is_crowded(page)
            full = len(page) >= self.page_size
            if crowded:
                page = self.whole_second(page)
            if cursor.newest is None:
                cursor.newest = page.timestamps[0]
                cursor.newest_keys = sorted(_keys_at(page, cursor.newest))
            if crowded:
                cursor.max_ts, cursor.boundary = page.timestamps[0], []
            elif full:  # the oldest second may have been cut off by the count: ask it again
                oldest = page.timestamps[-1]
                cursor.max_ts, cursor.boundary = oldest + 1, sorted(_keys_at(page, oldest))
            else:  # a short page holds its oldest second whole; only an empty page ends the backfill
                cursor.max_ts, cursor.boundary = page.timestamps[-1], []
            self.store(page, cursor, skip_second, skip_keys)

    @staticmethod
    def _to_incremental(cursor: Cursor) -> None:
        cursor.phase, cursor.since, cursor.boundary = "incremental", cursor.newest, cursor.newest_keys
        cursor.max_ts, cursor.newest, cursor.newest_keys = None, None, []

    def incremental(self, cursor: Cursor) -> None:
        while True:
            page = self.fetch(min_ts=cursor.since - 1)
            if not page:
                return  # not even the stored newest second is there any more: nothing new
            skip_second, skip_keys = cursor.since, cursor.boundary
            full = len(page) >= self.page_size
            if self.is_crowded(page):
                second = page.timestamps[0]
                page = self.whole_second(page)
                cursor.since, cursor.boundary = second + 1, []
            else:
                newest = page.timestamps[0]
                keys = _keys_at(page, newest) | (set(cursor.boundary) if newest == cursor.since else set())
                cursor.since, cursor.boundary = newest, sorted(keys)
            self.store(page, cursor, skip_second, skip_keys)
            if not full and page.timestamps[0] <= skip_second:
                return  # nothing newer than the second asked again


def _lock(conn, user_id: int) -> None:
    with conn.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(hashtext(%s), %s)", (_LOCK, user_id))
        locked = cur.fetchone()[0]
    conn.commit()
    if not locked:
        raise SyncAlreadyRunning("another ListenBrainz sync of this user is running")


def _unlock(conn, user_id: int) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock(hashtext(%s), %s)", (_LOCK, user_id))
        conn.commit()
    except Exception:  # a broken connection has dropped the lock already
        log.debug("could not release the ListenBrainz sync lock", exc_info=True)


def _start_run(conn, user_id: int, lb_user: str | None, user_name: str,
               full_resync: bool) -> tuple[str, Cursor]:
    """Close runs a killed process left 'running'; the account to read and its cursor."""
    with conn.cursor() as cur:
        cur.execute("""update sync_run set status = 'failed', finished_at = now(),
                              error = 'interrupted: the sync process ended before finishing'
                       where user_id = %s and source = %s and status = 'running'""",
                    (user_id, SOURCE))
        if lb_user is None:
            cur.execute("select listenbrainz_user from user_settings where user_id = %s", (user_id,))
            row = cur.fetchone()
            lb_user = (row[0] if row and row[0] else None) or user_name
        return lb_user, Cursor(lb_user) if full_resync else load_cursor(cur, user_id, lb_user)


def _mark_failed(conn, report: SyncReport, exc: BaseException) -> None:
    report.error = f"{type(exc).__name__}: {exc}"
    try:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("""update sync_run set status = 'failed', finished_at = now(), error = %s,
                                  pages = %s, fetched = %s
                           where run_id = %s""",
                        (report.error, report.pages, report.fetched, report.run_id))
        conn.commit()
    except Exception:  # never hide the original error behind this one
        log.exception("could not record the failure of ListenBrainz sync run %s", report.run_id)


def sync_listenbrainz(conn, user_name: str, client: ListenBrainzClient, lb_user: str | None = None,
                      *, on_page: Callable[[SyncReport], None] | None = None,
                      allow_capped_seconds: bool = False, full_resync: bool = False,
                      page_size: int = MAX_LISTENS_PER_REQUEST) -> SyncReport:
    """Sync `lb_user`'s ListenBrainz listens into SideTrack user `user_name`; returns the report.

    `conn` is a psycopg2 connection without uncommitted work: this function commits (one commit
    per page). `lb_user` defaults to user_settings.listenbrainz_user, else `user_name`.
    `on_page(report)` is called after every committed page. Errors are raised after the sync_run
    row is marked failed; every page committed before stays.

    The incremental phase only looks forward from the newest stored second, so listens that
    reach ListenBrainz later with older timestamps (an import of old history there) are found
    only by `full_resync=True`: a fresh backfill, ignoring the cursor, that stores what is missing
    and counts the rest as duplicates.
    """
    if not 1 <= page_size <= MAX_LISTENS_PER_REQUEST:
        raise ValueError(f"page_size must be 1..{MAX_LISTENS_PER_REQUEST}, not {page_size}")
    autocommit = conn.autocommit
    if autocommit:
        conn.autocommit = False  # the page and its cursor must share one transaction
    try:
        with conn.cursor() as cur:
            user_id = ensure_user(cur, user_name)
        conn.commit()
        _lock(conn, user_id)
        try:
            return _run(conn, user_name, client, lb_user, user_id, on_page, allow_capped_seconds,
                        full_resync, page_size)
        finally:
            _unlock(conn, user_id)
    finally:
        if autocommit:
            conn.autocommit = True


def _run(conn, user_name, client, lb_user, user_id, on_page, allow_capped_seconds, full_resync,
         page_size) -> SyncReport:
    lb_user, cursor = _start_run(conn, user_id, lb_user, user_name, full_resync)
    report = SyncReport(user=user_name, lb_user=lb_user, phase=cursor.phase,
                        mode="full" if cursor.phase == "backfill" else "incremental")
    with conn.cursor() as cur:
        cur.execute("insert into sync_run (user_id, source, mode) values (%s, %s, %s) returning run_id",
                    (user_id, SOURCE, report.mode))
        report.run_id = cur.fetchone()[0]
    conn.commit()
    sync = _Sync(conn, client, user_id, report, on_page, allow_capped_seconds, page_size)
    try:
        sync.backfill(cursor)
        if cursor.phase == "incremental":
            sync.incremental(cursor)
        with conn.cursor() as cur:
            cur.execute("""update sync_run set status = 'ok', finished_at = now(), pages = %s,
                                  fetched = %s, inserted = %s, duplicates = %s, merged = %s
                           where run_id = %s""",
                        (report.pages, report.fetched, report.inserted, report.duplicates,
                         report.merged, report.run_id))
        conn.commit()
    except BaseException as exc:
        _mark_failed(conn, report, exc)
        raise
    log.info("%s", report.summary())
    return report
