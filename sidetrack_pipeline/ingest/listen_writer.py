"""Store a batch of listens from any source: catalogue upserts, exact de-duplication, parity.

Every source (ListenBrainz export and API, Last.fm) writes through `write_listens`, inside the
caller's transaction; the caller commits (together with its cursor, so a crash never skips or
repeats a page).

* The same play from the same source is stored once: the unique key (user, track, played_at).
* **Parity** across sources: when a user has both ListenBrainz and Last.fm, most plays arrive
  twice, often a few seconds apart and sometimes under two track identities (one with a
  recording MBID, one by name). A listen is *merged* (not stored) when the user already has a
  listen from another source within `window_s` seconds of it that is the same recording (same
  track, or same recording MBID) or has the same normalised artist + title.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg2.extras import execute_values

from sidetrack_pipeline.ingest.catalog import catalogue_listens
from sidetrack_pipeline.sources.listen import Listen

# Shorter than almost any track, so a song repeated back to back is never merged with itself.
PARITY_WINDOW_S = int(os.environ.get("LISTEN_PARITY_WINDOW_SECONDS", "60"))


@dataclass
class WriteReport:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0  # already stored from this source
    merged: int = 0  # the same play already stored from another source

    def add(self, other: WriteReport) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.merged += other.merged


def write_listens(cur, user_id: int, listens: Iterable[Listen], source: str,
                  import_id: int | None = None, window_s: int | None = None) -> WriteReport:
    """Catalogue and insert `listens` of `user_id` from `source`; returns what happened."""
    listens = list(listens)
    report = WriteReport(received=len(listens))
    if not listens:
        return report
    window = PARITY_WINDOW_S if window_s is None else window_s
    track_ids = catalogue_listens(cur, listens)
    cur.execute("""create temp table if not exists incoming (
                       idx int, track_id int, played_at timestamptz, msid text) on commit drop""")
    cur.execute("truncate incoming")
    execute_values(cur, "insert into incoming values %s",
                   [(i, t, l.played_at, l.recording_msid)
                    for i, (l, t) in enumerate(zip(listens, track_ids))], page_size=5000)
    # Parity: the same play already stored from another source.
    cur.execute("""
        delete from incoming i
        using track ti
        where ti.track_id = i.track_id and exists (
            select 1 from listen l join track tl on tl.track_id = l.track_id
            where l.user_id = %(user)s and l.source <> %(source)s
              and l.played_at between i.played_at - make_interval(secs => %(w)s)
                                  and i.played_at + make_interval(secs => %(w)s)
              and (l.track_id = i.track_id or tl.name_key = ti.name_key
                   or (tl.mbid is not null and tl.mbid = ti.mbid)))""",
                {"user": user_id, "source": source, "w": window})
    report.merged = cur.rowcount
    cur.execute("""
        insert into listen (user_id, track_id, played_at, source, recording_msid, import_id)
        select distinct on (track_id, played_at) %s, track_id, played_at, %s, msid, %s
        from incoming order by track_id, played_at, idx
        on conflict on constraint listen_once do nothing""", (user_id, source, import_id))
    report.inserted = cur.rowcount
    report.duplicates = report.received - report.merged - report.inserted
    return report
