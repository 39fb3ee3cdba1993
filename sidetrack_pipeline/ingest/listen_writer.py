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

The work is done by `listen_batch.ListenBatch` (COPY into staging tables, set-based SQL); the
export import drives the same batch chunk by chunk (see `listens.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timezone

from sidetrack_pipeline.ingest.copy_rows import copy_line
from sidetrack_pipeline.ingest.listen_batch import ListenBatch, WriteReport
from sidetrack_pipeline.ingest.track_variants import TrackVariants
from sidetrack_pipeline.sources.listen import Listen

__all__ = ["PARITY_WINDOW_S", "WriteReport", "epoch_second", "write_listens"]

# Shorter than almost any track, so a song repeated back to back is never merged with itself.
PARITY_WINDOW_S = int(os.environ.get("LISTEN_PARITY_WINDOW_SECONDS", "60"))


def epoch_second(listen: Listen) -> int:
    """`played_at` as whole epoch seconds (a naive datetime is taken to be UTC)."""
    played = listen.played_at
    if played.tzinfo is None:
        played = played.replace(tzinfo=timezone.utc)
    return int(played.timestamp() // 1)


def write_listens(cur, user_id: int, listens: Iterable[Listen], source: str,
                  import_id: int | None = None, window_s: int | None = None) -> WriteReport:
    """Catalogue and insert `listens` of `user_id` from `source`; returns what happened."""
    listens = list(listens)
    if not listens:
        return WriteReport()
    batch = ListenBatch(cur, user_id, source, import_id,
                        PARITY_WINDOW_S if window_s is None else window_s)
    variants = TrackVariants()
    rows = [copy_line(variants.id_for(listen, seq), epoch_second(listen), listen.recording_msid, seq)
            for seq, listen in enumerate(listens)]
    batch.catalogue(variants.take_new())
    return batch.insert("".join(rows), len(rows))
