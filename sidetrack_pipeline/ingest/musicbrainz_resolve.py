"""Resolve catalogue tracks against MusicBrainz and store what it knows about them.

For each track not yet looked at (the most-listened first) (`mb_status` null), or whose last attempt failed (`'error'`)
longer than `retry_errors_after` ago:

* with a recording MBID: look the recording up → `resolved` (404 → `not_found`);
* without: search by artist name, title and length (see `sources.musicbrainz_match`), then look
  the chosen recording up → `matched`; no confident hit → `not_found` or `ambiguous` (the reason
  is kept in `track.mb_note`). A matched track takes the recording's MBID and key, merging into
  an existing track of that recording when there is one (`musicbrainz_identity`);
* the representative release is looked up too (labels), then everything is stored
  (`musicbrainz_store`).

Each track is one transaction, committed before the next starts, so a crash loses at most the
track in flight. A track that fails is marked `error` (the message in `mb_note`) and the batch
goes on, except that `max_consecutive_unavailable` tracks in a row with MusicBrainz unavailable
(still 503 after the client's retries) stop the batch: the service is down or refusing us.
Rows are taken with `for update skip locked`, so two runs at once never do a track twice.
Responses are cached by the client (give it a `DbResponseCache`), so a re-run asks nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sidetrack_pipeline.ingest.musicbrainz_identity import adopt_mbid
from sidetrack_pipeline.ingest.musicbrainz_store import choose_release, store_recording
from sidetrack_pipeline.sources.musicbrainz import MusicBrainzClient, MusicBrainzUnavailable, NotFound

log = logging.getLogger(__name__)

STATUSES = ("resolved", "matched", "not_found", "ambiguous", "error")
DEFAULT_RETRY_ERRORS_AFTER = timedelta(days=1)
_PENDING = "(t.mb_status is null or (t.mb_status = 'error' and t.mb_checked_at < now() - %s))"


@dataclass(frozen=True)
class ItemResult:
    track_id: int          # the track as it was taken (merged tracks no longer exist)
    status: str            # one of STATUSES, or 'skipped' (gone, or taken by another run);
                           # 'matched' + merged: the track it merged into is stored as 'resolved'
    mbid: str | None
    note: str
    merged: bool           # merged into the track that already had this recording's MBID
    done: int
    total: int


@dataclass
class ResolveReport:
    total: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES + ("skipped",), 0))
    merged: int = 0                                              # tracks merged into an existing one
    errors: list[tuple[int, str]] = field(default_factory=list)  # (track_id, message)
    stopped: str | None = None                                   # why the batch ended early
    requests: int = 0                                            # sent to MusicBrainz (not cached)

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return (f"MusicBrainz: {self.total} tracks: {parts or 'nothing to do'}; merged {self.merged}; "
                f"{self.requests} requests") + (
            f"; stopped: {self.stopped}" if self.stopped else "")


def pending_track_ids(cur, retry_errors_after: timedelta = DEFAULT_RETRY_ERRORS_AFTER,
                      limit: int | None = None) -> list[int]:
    """Tracks to resolve, the most-listened first (so a `limit`ed run does what matters most)."""
    cur.execute(f"""select t.track_id from track t
                    left join (select track_id, count(*) as plays from listen group by track_id) l
                           on l.track_id = t.track_id
                    where {_PENDING} order by coalesce(l.plays, 0) desc, t.track_id limit %s""",
                (retry_errors_after, limit))
    return [row[0] for row in cur.fetchall()]


def _mark(cur, track_id: int, status: str, note: str | None) -> None:
    cur.execute("update track set mb_status = %s, mb_checked_at = now(), mb_note = %s where track_id = %s",
                (status, note, track_id))


def _resolve_one(cur, client: MusicBrainzClient, track_id: int,
                 retry_errors_after: timedelta) -> tuple[str, str | None, str, bool]:
    """(status, recording MBID, note, merged) for one track, stored on `cur`'s transaction."""
    cur.execute(f"""select t.mbid::text, t.title, t.duration_ms, a.name, r.mbid::text
                    from track t join artist a on a.artist_id = t.artist_id
                    left join release r on r.release_id = t.release_id
                    where t.track_id = %s and {_PENDING} for update of t skip locked""",
                (track_id, retry_errors_after))
    row = cur.fetchone()
    if row is None:
        return "skipped", None, "already done, taken by another run, or gone", False
    own_mbid, title, duration_ms, artist_name, release_mbid = row
    mbid = own_mbid
    if mbid:
        status, note = "resolved", ""
    elif not title.strip() or not artist_name.strip():
        note = "no title or artist name to search by"
        _mark(cur, track_id, "not_found", note)
        return "not_found", None, note, False
    else:
        match = client.find_recording(title, artist_name, duration_ms)
        if match.status != "matched":
            _mark(cur, track_id, match.status, match.reason)
            return match.status, None, match.reason, False
        mbid, status, note = match.mbid, "matched", match.reason
    try:
        recording = client.lookup_recording(mbid)
    except NotFound:
        note = f"recording {mbid} is not in MusicBrainz"
        _mark(cur, track_id, "not_found", note)
        return "not_found", None, note, False
    chosen = choose_release(recording, release_mbid)
    try:
        release = client.lookup_release(chosen["id"]) if chosen else None
    except NotFound:
        release = None  # the search index lags behind deletions; keep the recording anyway
    merged = False
    if recording["id"] != own_mbid:  # found by search, or MusicBrainz merged the MBID away
        track_id, merged = adopt_mbid(cur, track_id, recording["id"])
    # A track merged into one that already held the MBID: the survivor counts as resolved.
    store_recording(cur, track_id, recording, release, "resolved" if merged else status)
    return status, recording["id"], note, merged


def resolve_tracks(conn, client: MusicBrainzClient, limit: int | None = None,
                   on_item: Callable[[ItemResult], None] | None = None, *,
                   retry_errors_after: timedelta = DEFAULT_RETRY_ERRORS_AFTER,
                   max_consecutive_unavailable: int = 3) -> ResolveReport:
    """Resolve up to `limit` pending tracks (all when None); commits on `conn` after each."""
    report = ResolveReport()
    sent_before = client.requests_sent
    with conn.cursor() as cur:
        track_ids = pending_track_ids(cur, retry_errors_after, limit)
    conn.commit()
    report.total = len(track_ids)
    unavailable_in_a_row = 0
    for done, track_id in enumerate(track_ids, start=1):
        try:
            with conn.cursor() as cur:
                status, mbid, note, merged = _resolve_one(cur, client, track_id, retry_errors_after)
            conn.commit()
            unavailable_in_a_row = 0
        except Exception as exc:  # one bad track must not stop the batch
            conn.rollback()
            status, mbid, note, merged = "error", None, f"{type(exc).__name__}: {exc}", False
            log.warning("MusicBrainz resolution of track %s failed: %s", track_id, note)
            with conn.cursor() as cur:
                _mark(cur, track_id, "error", note)
            conn.commit()
            report.errors.append((track_id, note))
            unavailable_in_a_row = unavailable_in_a_row + 1 if isinstance(exc, MusicBrainzUnavailable) else 0
        report.counts[status] += 1
        report.merged += merged
        report.requests = client.requests_sent - sent_before
        if on_item is not None:
            on_item(ItemResult(track_id, status, mbid, note, merged, done, report.total))
        if unavailable_in_a_row >= max_consecutive_unavailable:
            report.stopped = f"MusicBrainz unavailable for {unavailable_in_a_row} tracks in a row"
            break
    return report
