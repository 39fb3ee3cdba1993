"""Track-to-track edges derived from the stored MusicBrainz metadata (`graph_edges`).

Kinds (rebuilt from scratch on every run, so the result only depends on the stored metadata;
other kinds in the table are left alone):

* `remix_of`  remix → original, both catalogue recordings (MusicBrainz recording-recording
  'remix': entity0 "is a remix of" entity1, so `forward` on the remix, `backward` on the
  original). Weight 1.
* `cover_of`  cover → original: two catalogue recordings performing the same work, the first
  with the 'cover' attribute, the second without. Weight 1.
* `same_artist`  tracks sharing an artist (any credited artist, or the track's main artist;
  not Various Artists or the other special-purpose artists);
* `same_release` tracks on the same release group (editions of one album count as one), or
  the same release when the group is unknown;
* `same_label`   tracks whose releases share a label (not "[no label]").

The three `same_*` kinds are symmetric (stored in both directions) and grow with the square of
a group's size, so they are capped: within one group (an artist, a release, a label) each
track is linked to at most `GROUP_CAP` others. A group of up to GROUP_CAP + 1 tracks is fully
connected; a larger one is ordered by track_id and each track is linked to the GROUP_CAP / 2
before and after it (cyclically): a ring lattice that keeps the group connected with
GROUP_CAP·n edges instead of n². Weight 1 / log2(group size): 1 for a pair, 0.5 for 4 tracks,
0.25 for 16; a pair sharing several groups keeps its strongest weight.

Runs in the caller's transaction (readers see the old edges or the new ones, never half).
"""

from __future__ import annotations

GROUP_CAP = 10  # even: half before, half after in the ring
MB_KINDS = ("same_artist", "same_release", "same_label", "remix_of", "cover_of")
SPECIAL_ARTISTS = (
    "89ad4ac3-39f7-470e-963a-56509c546377",  # Various Artists
    "f731ccc4-e22a-43af-a747-64213329e088",  # [anonymous]
    "33cf029c-63b0-41a0-9855-be2a3665fb3b",  # [data]
    "314e1c25-dde7-4e4d-b2f4-0a7b9f7c56dc",  # [dialogue]
    "eec63d3c-3b81-4ad4-b1e4-7c147d4d2b61",  # [no artist]
    "9be7f096-97ec-4615-8957-8d40b5dcbc41",  # [traditional]
    "125ec42a-7229-4250-afc5-e057484327fe",  # [unknown]
)
NO_LABEL = "157afde4-4bf5-4039-8ad2-5a15acc85176"

# Each yields (group key, track_id).
_GROUPS = {
    "same_artist": """
        select a.artist_id::text, m.track_id
        from (select artist_id, track_id from track_artist
              union select artist_id, track_id from track) m
        join artist a on a.artist_id = m.artist_id
        where (a.mbid is null or a.mbid::text <> all(%(special)s))
          and a.artist_key not in ('name:various artists', 'name:various')""",
    "same_release": """
        select coalesce('group:' || r.release_group_mbid, 'release:' || r.release_id), t.track_id
        from track t join release r on r.release_id = t.release_id""",
    "same_label": """
        select rl.label_id::text, t.track_id
        from track t join release_label rl on rl.release_id = t.release_id
        join label l on l.label_id = rl.label_id
        where l.mbid is distinct from %(no_label)s::uuid""",
}

_GROUP_EDGES = """
insert into graph_edges (src_track_id, dst_track_id, kind, weight)
with members as (select distinct grp, track_id from ({groups}) g (grp, track_id)),
numbered as (
    select grp, track_id, (row_number() over (partition by grp order by track_id) - 1)::int as pos,
           (count(*) over (partition by grp))::int as n
    from members),
pairs as (
    select a.track_id as src, b.track_id as dst, a.n
    from numbered a
    cross join lateral generate_series(
        1, case when a.n <= %(cap)s + 1 then a.n - 1 else %(cap)s / 2 end) as d (step)
    join numbered b on b.grp = a.grp and b.pos = (a.pos + d.step) %% a.n)
select src, dst, %(kind)s, max(1 / log(2, n::numeric))::float8
from (select src, dst, n from pairs union all select dst, src, n from pairs) p
group by src, dst
"""

_REMIX_EDGES = """
insert into graph_edges (src_track_id, dst_track_id, kind, weight)
select distinct case when rr.direction = 'forward' then t.track_id else o.track_id end,
                case when rr.direction = 'forward' then o.track_id else t.track_id end,
                'remix_of', 1.0
from recording_relation rr
join track t on t.track_id = rr.track_id
join track o on o.mbid = rr.target_mbid and o.track_id <> t.track_id
where rr.kind = 'remix' and rr.target_type = 'recording'
on conflict do nothing
"""

_COVER_EDGES = """
insert into graph_edges (src_track_id, dst_track_id, kind, weight)
with performance as (
    select track_id, target_mbid as work, 'cover' = any(attributes) as is_cover
    from recording_relation
    where kind = 'performance' and target_type = 'work' and direction = 'forward')
select distinct c.track_id, o.track_id, 'cover_of', 1.0
from performance c join performance o on o.work = c.work and o.track_id <> c.track_id
where c.is_cover and not o.is_cover
on conflict do nothing
"""


def build_graph_edges(conn, group_cap: int = GROUP_CAP) -> dict[str, int]:
    """Rebuild the MusicBrainz-derived edges; returns {kind: number of edges}."""
    if group_cap < 2 or group_cap % 2:
        raise ValueError("group_cap must be an even number >= 2")
    counts = {}
    with conn.cursor() as cur:
        cur.execute("delete from graph_edges where kind = any(%s)", (list(MB_KINDS),))
        for kind, groups in _GROUPS.items():
            cur.execute(_GROUP_EDGES.format(groups=groups), {
                "kind": kind, "cap": group_cap, "special": list(SPECIAL_ARTISTS), "no_label": NO_LABEL})
            counts[kind] = cur.rowcount
        cur.execute(_REMIX_EDGES)
        counts["remix_of"] = cur.rowcount
        cur.execute(_COVER_EDGES)
        counts["cover_of"] = cur.rowcount
    return counts
