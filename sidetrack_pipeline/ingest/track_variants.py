"""The distinct track descriptions ("variants") in a stream of listens, each keyed once.

A million listens name some tens of thousands of tracks, each spelled the same way again and
again. Each distinct spelling gets a small integer id the first time it is seen, with its
catalogue keys (artist, release, track, name) computed then and only then; the listens carry
just that id. Variants not yet sent to the database wait in `take_new()`.
"""

from __future__ import annotations

from sidetrack_pipeline.ingest.copy_rows import copy_line
from sidetrack_pipeline.sources.listen import Listen, artist_key, name_key, release_key, track_key

# Columns of the staging table the rows of `take_new()` are copied into (see listen_batch).
VARIANT_COLUMNS = ("vid", "seq", "artist_name", "track_name", "release_name", "recording_mbid",
                   "artist_mbid", "release_mbid", "duration_ms", "artist_key", "release_key",
                   "track_key", "name_key", "isrc")


def variant_of(listen: Listen) -> tuple:
    """Everything about a listen that decides its artist, release and track rows."""
    return (listen.artist_name, listen.track_name, listen.release_name, listen.recording_mbid,
            listen.artist_mbid, listen.release_mbid, listen.duration_ms, listen.isrc)


class TrackVariants:
    def __init__(self) -> None:
        self._ids: dict[tuple, int] = {}
        self._by_id: list[tuple] = []
        self._new: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    def id_for(self, listen: Listen, seq: int) -> int:
        """The variant id of `listen`; `seq` (the listen's position) orders first sightings."""
        variant = variant_of(listen)
        vid = self._ids.get(variant)
        if vid is None:
            vid = self._ids[variant] = len(self._ids)
            self._by_id.append(variant)
            artist, title, release, recording, artist_mbid, release_mbid, duration, isrc = variant
            a_key = artist_key(artist, artist_mbid)
            self._new.append(copy_line(
                vid, seq, artist, title, release, recording, artist_mbid, release_mbid, duration,
                a_key, release_key(a_key, release, release_mbid) if release else None,
                track_key(recording, artist, title), name_key(artist, title), isrc))
        return vid

    def variant(self, vid: int) -> tuple:
        """The variant (see `variant_of`) that has id `vid`."""
        return self._by_id[vid]

    def take_new(self) -> str:
        """COPY text of the variants seen since the last call (empty when there are none)."""
        text = "".join(self._new)
        self._new = []
        return text
