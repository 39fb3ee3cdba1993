"""The database side of writing listens: COPY into staging tables, then a few set-based statements.

A `ListenBatch` lives inside the caller's transaction. Listens arrive as (variant id, epoch second,
msid, position) rows and track variants as rows of `track_variants.VARIANT_COLUMNS`, both in COPY
text. `catalogue()` turns new variants into artist/release/track rows; `insert()` stores a
chunk of listens and says how many were new, already stored, or merged with another source's
copy of the same play. Everything is plain SQL over the staging tables, so the cost per listen
is the cost of PostgreSQL inserting a row, not of a Python round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidetrack_pipeline.ingest.copy_rows import copy_into
from sidetrack_pipeline.ingest.track_variants import VARIANT_COLUMNS

LISTEN_COLUMNS = ("vid", "ts", "msid", "seq")

_TABLES = """
create temp table if not exists listen_batch_variant (
    vid int primary key, seq bigint not null, artist_name text not null, track_name text not null,
    release_name text, recording_mbid uuid, artist_mbid uuid, release_mbid uuid, duration_ms int,
    artist_key text not null, release_key text, track_key text not null, name_key text not null,
    isrc text, track_id int
) on commit drop;
create temp table if not exists listen_batch_track (
    vid int primary key, track_id int not null
) on commit drop;
create temp table if not exists listen_batch_listen (
    vid int not null, ts bigint not null, msid text, seq bigint not null
) on commit drop;
create temp table if not exists listen_batch_incoming (
    seq bigint not null, track_id int not null, played_at timestamptz not null, msid text
) on commit drop;
truncate listen_batch_variant, listen_batch_track, listen_batch_listen, listen_batch_incoming;
"""

# A name-only variant takes a track catalogued before this batch began: its own `name:` track,
# else the one MBID-identified track with the same artist and title (so re-importing a name-only
# listen finds the track it was merged into instead of re-creating a twin). Tracks this batch
# creates do not count, so the outcome does not depend on how an import is cut into chunks.
_KNOWN_BY_NAME = """
update listen_batch_variant v set track_id = k.track_id
from (select t.name_key,
             coalesce(min(t.track_id) filter (where t.track_key = 'name:' || t.name_key),
                      case when count(t.mbid) = 1
                           then min(t.track_id) filter (where t.mbid is not null) end) as track_id
      from track t
      where t.track_id <= %(snapshot)s
        and t.name_key in (select name_key from listen_batch_variant where recording_mbid is null)
      group by t.name_key) k
where v.recording_mbid is null and v.name_key = k.name_key and k.track_id is not null
"""

_ARTISTS = """
insert into artist (artist_key, name, mbid)
select distinct on (artist_key) artist_key, artist_name, artist_mbid
from listen_batch_variant where track_id is null
order by artist_key, seq
on conflict (artist_key) do nothing
"""

_RELEASES = """
insert into release (release_key, title, artist_id, mbid)
select distinct on (v.release_key) v.release_key, v.release_name, a.artist_id, v.release_mbid
from listen_batch_variant v join artist a using (artist_key)
where v.track_id is null and v.release_key is not null
order by v.release_key, v.seq
on conflict (release_key) do nothing
"""

# The first variant seen names a new track; release, MBID and duration come from the first
# variant that has them, and fill gaps on a track that exists already.
_TRACKS = """
insert into track (track_key, name_key, title, artist_id, release_id, mbid, duration_ms)
select v.track_key, v.name_key, v.track_name, a.artist_id, f.release_id, v.recording_mbid,
       f.duration_ms
from (select distinct on (track_key) * from listen_batch_variant where track_id is null
      order by track_key, seq) v
join artist a using (artist_key)
join (select v2.track_key,
             (array_agg(r.release_id order by v2.seq)
                  filter (where r.release_id is not null))[1] as release_id,
             (array_agg(v2.duration_ms order by v2.seq)
                  filter (where v2.duration_ms is not null))[1] as duration_ms
      from listen_batch_variant v2 left join release r using (release_key)
      where v2.track_id is null
      group by v2.track_key) f using (track_key)
order by v.track_key
on conflict (track_key) do update set
    release_id  = coalesce(track.release_id, excluded.release_id),
    mbid        = coalesce(track.mbid, excluded.mbid),
    duration_ms = coalesce(track.duration_ms, excluded.duration_ms),
    updated_at  = now()
where (track.release_id is null and excluded.release_id is not null)
   or (track.mbid is null and excluded.mbid is not null)
   or (track.duration_ms is null and excluded.duration_ms is not null)
"""

# ISRCs the listens carry join the track's (the library matches files by them).
_LINK_VARIANTS = """
update listen_batch_variant v set track_id = t.track_id
from track t where v.track_id is null and t.track_key = v.track_key;
update track t set isrcs = array(select distinct unnest(t.isrcs || n.isrcs) order by 1)
from (select track_id, array_agg(distinct isrc) as isrcs from listen_batch_variant
      where isrc is not null group by track_id) n
where t.track_id = n.track_id and not n.isrcs <@ t.isrcs;
insert into listen_batch_track (vid, track_id) select vid, track_id from listen_batch_variant;
truncate listen_batch_variant;
"""

# Does the user have a listen from another source anywhere near this chunk? Usually not (one
# source, or a first import), and then the parity join is skipped altogether.
_OTHER_SOURCE_NEARBY = """
select exists (
    select 1 from listen l
    where l.user_id = %(user)s and l.source <> %(source)s
      and l.played_at between (select to_timestamp(min(ts)) from listen_batch_listen) - %(window)s * interval '1 second'
                          and (select to_timestamp(max(ts)) from listen_batch_listen) + %(window)s * interval '1 second')
"""

_INSERT_COLUMNS = "insert into listen (user_id, track_id, played_at, source, recording_msid, import_id)"

# ON CONFLICT DO NOTHING also drops a second copy of a (track, second) within the statement; the
# ORDER BY makes the first line of the export the one that is kept.
_INSERT_DIRECT = _INSERT_COLUMNS + """
select %(user)s, t.track_id, to_timestamp(s.ts), %(source)s, s.msid, %(import)s
from listen_batch_listen s join listen_batch_track t using (vid)
order by s.seq
on conflict on constraint listen_once do nothing
"""

_STAGE_INCOMING = """
insert into listen_batch_incoming (seq, track_id, played_at, msid)
select s.seq, t.track_id, to_timestamp(s.ts), s.msid
from listen_batch_listen s join listen_batch_track t using (vid);
analyze listen_batch_incoming;
"""

# Parity: an incoming listen is merged when the same user has a listen from another source
# within the window that is the same track, the same recording MBID or the same normalised
# artist + title. The join walks the (user, played_at) index once per incoming listen.
_DELETE_MERGED = """
delete from listen_batch_incoming i
using (select distinct n.seq
       from listen_batch_incoming n
       join track tn on tn.track_id = n.track_id
       join listen l on l.user_id = %(user)s and l.source <> %(source)s
                    and l.played_at between n.played_at - %(window)s * interval '1 second'
                                         and n.played_at + %(window)s * interval '1 second'
       join track tl on tl.track_id = l.track_id
       where l.track_id = n.track_id or tl.name_key = tn.name_key or tl.mbid = tn.mbid) m
where i.seq = m.seq
"""

_INSERT_INCOMING = _INSERT_COLUMNS + """
select %(user)s, track_id, played_at, %(source)s, msid, %(import)s
from listen_batch_incoming
order by seq
on conflict on constraint listen_once do nothing
"""


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


class ListenBatch:
    """Staging tables and statements for one writer call or one whole import (one transaction)."""

    def __init__(self, cur, user_id: int, source: str, import_id: int | None, window_s: int):
        self.cur = cur
        # JIT would compile each chunk's statements anew for nothing; the catalogue statements
        # sort tens of thousands of variants at once.
        cur.execute("set local jit = off; set local work_mem = '64MB'")
        cur.execute(_TABLES)
        cur.execute("select coalesce(max(track_id), 0) from track")
        self._params = {"user": user_id, "source": source, "import": import_id,
                        "window": int(window_s), "snapshot": cur.fetchone()[0]}

    def catalogue(self, variants: str) -> None:
        """Catalogue new variants (COPY text of VARIANT_COLUMNS rows, ids not seen before)."""
        if not variants:
            return
        cur = self.cur
        copy_into(cur, "listen_batch_variant", VARIANT_COLUMNS, variants)
        if variants.count("\n") > 1000:   # statistics steer the joins below; small sets need none
            cur.execute("analyze listen_batch_variant")
        cur.execute(_KNOWN_BY_NAME, self._params)
        cur.execute(_ARTISTS)
        cur.execute(_RELEASES)
        cur.execute(_TRACKS)
        cur.execute(_LINK_VARIANTS)

    def tracks_of(self, keyed_variants: dict) -> dict:
        """{key: variant id} → {key: track id}, for variants this batch has catalogued."""
        if not keyed_variants:
            return {}
        self.cur.execute("select vid, track_id from listen_batch_track where vid = any(%s)",
                         (sorted(set(keyed_variants.values())),))
        tracks = dict(self.cur.fetchall())
        return {key: tracks[vid] for key, vid in keyed_variants.items() if vid in tracks}

    def insert(self, listens: str, count: int) -> WriteReport:
        """Store `count` listens (COPY text of LISTEN_COLUMNS rows whose variants are catalogued)."""
        result = WriteReport(received=count)
        if not count:
            return result
        cur = self.cur
        cur.execute("truncate listen_batch_listen")
        copy_into(cur, "listen_batch_listen", LISTEN_COLUMNS, listens)
        cur.execute(_OTHER_SOURCE_NEARBY, self._params)
        if cur.fetchone()[0]:
            cur.execute("truncate listen_batch_incoming")
            cur.execute(_STAGE_INCOMING)
            cur.execute(_DELETE_MERGED, self._params)
            result.merged = cur.rowcount
            cur.execute(_INSERT_INCOMING, self._params)
        else:
            cur.execute(_INSERT_DIRECT, self._params)
        result.inserted = cur.rowcount
        result.duplicates = count - result.merged - result.inserted
        return result
