"""Resolving catalogue tracks against a fake MusicBrainz, storing the metadata, deriving graph edges."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import psycopg2
import pytest

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.listen_writer import write_listens
from sidetrack_pipeline.ingest.musicbrainz_graph import build_graph_edges
from sidetrack_pipeline.ingest.musicbrainz_resolve import resolve_tracks
from sidetrack_pipeline.ingest.response_cache import DbResponseCache
from sidetrack_pipeline.sources.listen import Listen
from sidetrack_pipeline.sources.musicbrainz import MusicBrainzClient
from tests import fake_musicbrainz as mb

# ---- a small MusicBrainz world -----------------------------------------------------------------
PORTISHEAD = mb.artist("Portishead", type="Group", country="GB", tags={"trip hop": 5, "bristol": 1})
GIBBONS = mb.artist("Beth Gibbons", sort_name="Gibbons, Beth", type="Person", country="GB")
TRICKY = mb.artist("Tricky", type="Person", country="GB")
GO_BEAT = mb.label("Go! Beat")
DUMMY = mb.release("Dummy", credits=mb.credit(PORTISHEAD), date="1994-08-22", country="GB",
                   labels=[(GO_BEAT, "828 522-2")])
PROMO = mb.release("Trip Hop Promo", credits=mb.credit(mb.artist("Various Artists", id=mb.SPECIAL_VA)),
                   date="1994-01-01", secondary_types=("Compilation",))
WORK = mb.work("Glory Box")
GLORY_BOX = mb.recording("Glory Box", length=306_000, credits=mb.credit(PORTISHEAD, " feat. ", GIBBONS),
                         releases=[PROMO, DUMMY], isrcs=("GBAAN9400012", "GBAAN9400012"),
                         tags={"trip hop": 4, "downtempo": 2}, genres={"trip hop": 3, "electronic": 1})
REMIX = mb.recording("Glory Box (Remix)", length=290_000, credits=mb.credit(PORTISHEAD), releases=[DUMMY],
                     relations=[mb.relation("remix", "recording", GLORY_BOX, "forward")])
GLORY_BOX["relations"] = [mb.relation("remix", "recording", REMIX, "backward"),
                          mb.relation("performance", "work", WORK, "forward")]
COVER = mb.recording("Glory Box", length=280_000, credits=mb.credit(TRICKY),
                     relations=[mb.relation("performance", "work", WORK, "forward", ("cover", "live"))])
AMBIGUOUS_A = mb.recording("Roads", length=300_000, credits=mb.credit(PORTISHEAD))
AMBIGUOUS_B = mb.recording("Roads", length=301_000, credits=mb.credit(mb.artist("Portishead Tribute")))
UNKNOWN = mb.mbid()
BROKEN = mb.mbid()


def world(server: mb.FakeMusicBrainz) -> None:
    server.fail_always(BROKEN, 500)
    for rec in (GLORY_BOX, REMIX, COVER, AMBIGUOUS_A, AMBIGUOUS_B):
        server.add_recording(rec)
    server.add_search("Glory Box (Remix)", "Portishead", [mb.search_hit(REMIX, 100), mb.search_hit(GLORY_BOX, 71)])
    server.add_search("Glory Box!", "Portishead", [mb.search_hit(GLORY_BOX, 98)])
    server.add_search("Roads", "Portishead", [mb.search_hit(AMBIGUOUS_A, 100), mb.search_hit(AMBIGUOUS_B, 100)])


T0 = datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp()


def listen(i, artist, title, mbid=None, release=None, duration_ms=None):
    return Listen(datetime.fromtimestamp(T0 + 600 * i, timezone.utc), artist, title, release_name=release,
                  recording_mbid=mbid, duration_ms=duration_ms)


LISTENS = [
    listen(1, "Portishead", "Glory Box", GLORY_BOX["id"], release="Dummy"),    # lookup → resolved
    listen(2, "Portishead", "Glory Box (Remix)", duration_ms=291_000),         # search → matched
    listen(3, "Tricky", "Glory Box", COVER["id"]),                             # lookup → resolved
    listen(4, "Portishead", "Roads", duration_ms=300_500),                     # search → ambiguous
    listen(5, "Portishead", "Wandering Star"),                                 # search, no hits → not_found
    listen(6, "portishead", "Glory Box!", duration_ms=305_000),                # search → merges into #1
    listen(7, "Someone", "Deleted", UNKNOWN),                                  # 404 → not_found
    listen(8, "Someone", "Broken", BROKEN),                                    # 500 → error
    listen(9, "portishead", "Glory Box!"),                                     # a second play of #6
]


def catalogue(db_url, listens=LISTENS) -> dict[int, int]:
    """Store the listens; {listen number: its track_id}."""
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        write_listens(cur, ensure_user(cur, "alice"), listens, "listenbrainz")
        cur.execute("select extract(epoch from played_at), track_id from listen")
        return {round((float(at) - T0) / 600): track_id for at, track_id in cur.fetchall()}


def fetch(db_url, sql, params=()):
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def server():
    with mb.FakeMusicBrainz() as fake:
        world(fake)
        yield fake


def resolve(db_url, server, tmp_path, **kw):
    with DbResponseCache.open(db_url) as cache, MusicBrainzClient(
            "tests@example.org", base_url=server.base_url, cache=cache, interval_s=0.0,
            lock_dir=tmp_path / "locks", backoff_s=0.01, max_attempts=2) as client:
        conn = psycopg2.connect(db_url)
        try:
            return resolve_tracks(conn, client, **kw)
        finally:
            conn.close()


def test_resolve_stores_what_musicbrainz_knows(db_url, server, tmp_path):
    ids = catalogue(db_url)
    # what other parts of SideTrack hold: an ISRC from a listen, the twin's file, label and Last.fm tag
    fetch(db_url, "update track set isrcs = '{USAAA0000001}' where track_id = %s returning 1", (ids[1],))
    fetch(db_url, """update track set local_path = '/music/glory.flac', fingerprint = 'abc'
                     where track_id = %s returning 1""", (ids[6],))
    fetch(db_url, """insert into labels_user (user_id, track_id, axis, value, source)
                     select user_id, %s, 'energy', 0.4, 'ui' from users returning 1""", (ids[6],))
    fetch(db_url, """with t as (insert into tag (name) values ('sad') returning tag_id)
                     insert into track_tag (track_id, tag_id, source, weight)
                     select %s, tag_id, 'lastfm', 0.9 from t returning 1""", (ids[6],))
    items = []

    def on_item(item):  # each item is committed before the next one starts
        items.append(item)
        if item.status not in ("skipped",) and not item.merged:
            assert fetch(db_url, "select mb_status from track where track_id = %s", (item.track_id,)) != [(None,)]

    report = resolve(db_url, server, tmp_path, on_item=on_item)
    assert report.total == 8 and [i.done for i in items] == list(range(1, 9))
    # the misspelt twin has the most plays, so it goes first: found by search, it merges into the
    # original, which is then already done when its own turn comes
    assert (items[0].track_id, items[0].status, items[0].merged) == (ids[6], "matched", True)
    assert {k: v for k, v in report.counts.items() if v} == {
        "resolved": 1, "matched": 2, "ambiguous": 1, "not_found": 2, "error": 1, "skipped": 1}
    assert report.merged == 1 and report.stopped is None
    assert [tid for tid, _ in report.errors] == [ids[8]]

    status = dict(fetch(db_url, "select track_id, mb_status from track"))
    assert status == {ids[1]: "resolved", ids[2]: "matched", ids[3]: "resolved", ids[4]: "ambiguous",
                      ids[5]: "not_found", ids[7]: "not_found", ids[8]: "error"}  # 6 merged into 1
    notes = dict(fetch(db_url, "select track_id, mb_note from track where mb_note is not null"))
    assert "Portishead Tribute" in notes[ids[4]] and "500" in notes[ids[8]]
    assert UNKNOWN in notes[ids[7]]

    # the original: title, length, ISRCs, credits with MusicBrainz artists
    (row,) = fetch(db_url, """select t.track_key, t.duration_ms, t.isrcs, a.mbid::text, a.sort_name
                              from track t join artist a using (artist_id) where t.track_id = %s""",
                   (ids[1],))
    assert row == (f"mbid:{GLORY_BOX['id']}", 306_000, ["GBAAN9400012", "USAAA0000001"], PORTISHEAD["id"],
                   "Portishead")
    assert fetch(db_url, """select ta.position, a.name, ta.credited_name, ta.join_phrase, a.type, a.country
                            from track_artist ta join artist a using (artist_id)
                            where ta.track_id = %s order by 1""", (ids[1],)) == [
        (0, "Portishead", "Portishead", " feat. ", "Group", "GB"),
        (1, "Beth Gibbons", "Beth Gibbons", "", "Person", "GB")]
    # the album, not the earlier compilation; its group, date, country and label
    assert fetch(db_url, """select r.mbid::text, r.release_group_mbid::text, r.date, r.country, l.name,
                                   rl.catalog_number
                            from track t join release r using (release_id)
                            join release_label rl using (release_id) join label l using (label_id)
                            where t.track_id = %s""", (ids[1],)) == [
        (DUMMY["id"], DUMMY["release-group"]["id"], "1994-08-22", "GB", "Go! Beat", "828 522-2")]
    # tags and genres, weighted per recording; the artist's tags too
    assert fetch(db_url, """select g.name, tt.weight from track_tag tt join tag g using (tag_id)
                            where tt.track_id = %s and tt.source = 'musicbrainz' order by 2 desc, 1""",
                 (ids[1],)) == [("trip hop", 1.0), ("downtempo", 0.5), ("electronic", 0.25)]
    assert fetch(db_url, """select g.name, at.weight from artist_tag at join tag g using (tag_id)
                            join artist a using (artist_id) where a.mbid = %s order by 1""",
                 (PORTISHEAD["id"],)) == [("bristol", 0.2), ("trip hop", 1.0)]
    assert sorted(fetch(db_url, """select kind, direction, target_type, target_mbid::text, attributes
                                   from recording_relation""")) == sorted([
        ("remix", "backward", "recording", REMIX["id"], []),
        ("performance", "forward", "work", WORK["id"], []),
        ("remix", "forward", "recording", GLORY_BOX["id"], []),
        ("performance", "forward", "work", WORK["id"], ["cover", "live"])])

    # found by search: the recording's MBID and key; the misspelt twin merged into the original
    assert fetch(db_url, "select track_key, mbid::text from track where track_id = %s",
                 (ids[2],)) == [(f"mbid:{REMIX['id']}", REMIX["id"])]
    assert fetch(db_url, "select count(*) from track where track_id = %s", (ids[6],)) == [(0,)]
    assert fetch(db_url, "select count(*) from listen where track_id = %s", (ids[1],)) == [(3,)]
    assert fetch(db_url, "select count(*) from listen") == [(9,)]
    assert fetch(db_url, "select local_path, fingerprint from track where track_id = %s", (ids[1],)) == [
        ("/music/glory.flac", "abc")]
    assert fetch(db_url, "select track_id from labels_user") == [(ids[1],)]
    assert fetch(db_url, "select track_id, weight from track_tag where source = 'lastfm'") == [(ids[1], 0.9)]


def test_a_rerun_is_answered_from_the_cache_and_changes_nothing(db_url, server, tmp_path):
    catalogue(db_url, [l for l in LISTENS if l.track_name != "Broken"])
    resolve(db_url, server, tmp_path)
    snapshot = """select t.track_key, t.title, t.duration_ms, t.isrcs, t.mb_status, t.mb_note,
                         (select count(*) from track_artist ta where ta.track_id = t.track_id),
                         (select count(*) from track_tag tt where tt.track_id = t.track_id),
                         (select count(*) from recording_relation r where r.track_id = t.track_id),
                         (select count(*) from listen l where l.track_id = t.track_id)
                  from track t order by t.track_key"""
    tables = """select (select count(*) from artist), (select count(*) from release),
                       (select count(*) from label), (select count(*) from release_label),
                       (select count(*) from tag), (select count(*) from artist_tag)"""
    before, before_tables = fetch(db_url, snapshot), fetch(db_url, tables)
    asked = len(server.requests)
    assert fetch(db_url, "select count(*) from api_cache")[0][0] > 0
    fetch(db_url, "update track set mb_status = null returning 1")  # resolve everything again
    report = resolve(db_url, server, tmp_path)
    assert len(server.requests) == asked  # not one request
    assert report.total == 6 and report.counts["error"] == 0 and report.requests == 0
    # the same rows, except that the track once found by search now went by its own MBID
    after = fetch(db_url, snapshot)
    assert [r[4] for r in after if r[1] == "Glory Box (Remix)"] == ["resolved"]
    assert [r[:4] + r[5:] for r in after] == [r[:4] + r[5:] for r in before]
    assert fetch(db_url, tables) == before_tables
    assert fetch(db_url, "select count(*) from artist where mbid is not null") == [(3,)]  # no twins


def test_errors_are_retried_only_after_the_retry_interval(db_url, server, tmp_path):
    ids = catalogue(db_url, [LISTENS[7]])  # listen 8: the broken one
    assert resolve(db_url, server, tmp_path).counts["error"] == 1
    asked = len(server.requests)
    assert resolve(db_url, server, tmp_path).total == 0 and len(server.requests) == asked
    server._always_failing.clear()
    server.add_recording(mb.recording("Broken", id=BROKEN, length=1000, credits=mb.credit(TRICKY)))
    fetch(db_url, "update track set mb_checked_at = now() - interval '2 days' returning 1")
    report = resolve(db_url, server, tmp_path)
    assert report.counts["resolved"] == 1
    assert fetch(db_url, "select mb_status, mb_note from track where track_id = %s",
                 (ids[8],)) == [("resolved", None)]


def test_a_batch_stops_when_musicbrainz_stays_unavailable(db_url, server, tmp_path):
    catalogue(db_url, [listen(i, "Band", f"Song {i}", mb.mbid()) for i in range(5)])
    server.fail_next(100, 503)
    report = resolve(db_url, server, tmp_path, max_consecutive_unavailable=3)
    assert report.counts["error"] == 3 and "unavailable" in report.stopped
    assert fetch(db_url, "select mb_status, count(*) from track group by 1 order by 1") == [
        ("error", 3), (None, 2)]


def test_limit_takes_only_so_many_tracks(db_url, server, tmp_path):
    # three independent tracks (no search match merging one into another)
    catalogue(db_url, [LISTENS[0], LISTENS[2], LISTENS[4]])
    assert resolve(db_url, server, tmp_path, limit=2).total == 2
    assert fetch(db_url, "select count(*) from track where mb_status is not null") == [(2,)]


# ---- graph edges --------------------------------------------------------------------------------

def edges(db_url, kind):
    return fetch(db_url, """select s.title, d.title, e.weight from graph_edges e
                            join track s on s.track_id = e.src_track_id
                            join track d on d.track_id = e.dst_track_id
                            where e.kind = %s order by 1, 2""", (kind,))


def test_graph_edges_from_the_resolved_metadata(db_url, server, tmp_path):
    catalogue(db_url)
    resolve(db_url, server, tmp_path)
    conn = psycopg2.connect(db_url)
    with conn:
        counts = build_graph_edges(conn)
    assert edges(db_url, "remix_of") == [("Glory Box (Remix)", "Glory Box", 1.0)]  # stated on both sides
    assert [e[:2] for e in edges(db_url, "cover_of")] == [("Glory Box", "Glory Box")]
    (cover_edge,) = fetch(db_url, "select src_track_id, dst_track_id from graph_edges where kind = 'cover_of'")
    covers = dict(fetch(db_url, "select track_id, mbid::text from track where mbid is not null"))
    assert (covers[cover_edge[0]], covers[cover_edge[1]]) == (COVER["id"], GLORY_BOX["id"])
    # Glory Box and its remix: same artist (Portishead), release (Dummy) and label (Go! Beat)
    for kind in ("same_artist", "same_release", "same_label"):
        assert [e[:2] for e in edges(db_url, kind) if e[0].startswith("Glory Box (")] == [
            ("Glory Box (Remix)", "Glory Box")], kind
    assert counts["remix_of"] == 1 and counts["cover_of"] == 1
    # idempotent: a second build gives the same edges
    before = fetch(db_url, "select * from graph_edges order by 1, 2, 3")
    with conn:
        assert build_graph_edges(conn) == counts
    assert fetch(db_url, "select src_track_id, dst_track_id, kind, weight from graph_edges order by 1, 2, 3") == [
        r[:4] for r in before]
    conn.close()


def _group(cur, artist_name, titles, mbid=None):
    cur.execute("insert into artist (artist_key, name, mbid) values (%s, %s, %s) returning artist_id",
                (f"mbid:{mbid}" if mbid else f"name:{artist_name.lower()}", artist_name, mbid))
    artist_id = cur.fetchone()[0]
    ids = []
    for title in titles:
        cur.execute("""insert into track (track_key, name_key, title, artist_id) values (%s, %s, %s, %s)
                       returning track_id""", (f"name:{artist_name}|{title}", f"{artist_name}|{title}", title, artist_id))
        ids.append(cur.fetchone()[0])
    return ids


def test_group_edges_are_capped_symmetric_and_weighted(db_url):
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        big = _group(cur, "Big Band", [f"b{i:02}" for i in range(15)])
        small = _group(cur, "Trio", ["t1", "t2", "t3"])
        _group(cur, "Various Artists", ["v1", "v2"], mbid=mb.SPECIAL_VA)
        cur.execute("insert into graph_edges values (%s, %s, 'similar_audio', 0.3, now())", (big[0], small[0]))
    with conn:
        counts = build_graph_edges(conn, group_cap=10)
    assert counts["same_artist"] == 15 * 10 + 3 * 2
    out_degree = fetch(db_url, """select src_track_id, count(*) from graph_edges
                                  where kind = 'same_artist' group by 1""")
    assert {tid: n for tid, n in out_degree if tid in big} == dict.fromkeys(big, 10)
    assert {tid: n for tid, n in out_degree if tid in small} == dict.fromkeys(small, 2)
    pairs = set(fetch(db_url, "select src_track_id, dst_track_id from graph_edges where kind = 'same_artist'"))
    assert all((b, a) in pairs for a, b in pairs)  # symmetric
    # the ring keeps the big group connected
    reached, frontier = {big[0]}, [big[0]]
    while frontier:
        node = frontier.pop()
        for a, b in pairs:
            if a == node and b not in reached:
                reached.add(b)
                frontier.append(b)
    assert reached == set(big)
    weights = dict(fetch(db_url, """select src_track_id, max(weight) from graph_edges
                                    where kind = 'same_artist' group by 1"""))
    assert weights[big[0]] == pytest.approx(1 / math.log2(15))
    assert weights[small[0]] == pytest.approx(1 / math.log2(3))
    assert fetch(db_url, "select count(*) from graph_edges where kind = 'similar_audio'") == [(1,)]  # not ours


def test_remix_direction_from_one_side_only_and_stale_edges_go(db_url):
    original, remix = mb.mbid(), mb.mbid()
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        a, b = _group(cur, "Solo", ["Original", "Remix"])
        cur.execute("update track set mbid = %s where track_id = %s", (original, a))
        cur.execute("update track set mbid = %s where track_id = %s", (remix, b))
        # only the original was resolved: MusicBrainz states the remix relation backward on it
        cur.execute("insert into recording_relation values (%s, 'remix', 'backward', 'recording', %s, '{}')",
                    (a, remix))
    with conn:
        build_graph_edges(conn)
    assert edges(db_url, "remix_of") == [("Remix", "Original", 1.0)]
    with conn, conn.cursor() as cur:
        cur.execute("delete from recording_relation")
    with conn:
        assert build_graph_edges(conn)["remix_of"] == 0
    assert edges(db_url, "remix_of") == []
    conn.close()


def test_cover_edges_run_from_each_cover_to_each_non_cover_performance(db_url):
    work = mb.mbid()
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        ids = dict(zip(["studio", "live", "cover", "cover2"],
                       _group(cur, "Mixed", ["studio", "live", "cover", "cover2"])))
        for name, attributes in (("studio", []), ("live", ["live"]), ("cover", ["cover"]),
                                 ("cover2", ["cover", "live"])):
            cur.execute("insert into recording_relation values (%s, 'performance', 'forward', 'work', %s, %s)",
                        (ids[name], work, attributes))
    with conn:
        assert build_graph_edges(conn)["cover_of"] == 4
    conn.close()
    assert [e[:2] for e in edges(db_url, "cover_of")] == [
        ("cover", "live"), ("cover", "studio"), ("cover2", "live"), ("cover2", "studio")]
