"""The one listen writer every source uses: exact duplicates, parity across sources, counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.library import reconcile_catalogue
from sidetrack_pipeline.ingest.listen_writer import WriteReport, write_listens
from sidetrack_pipeline.sources.listen import Listen

T0 = datetime(2024, 5, 1, 20, 0, 0, tzinfo=timezone.utc)
MBID = "c7d0bf6e-b2aa-4ffa-bded-2448415b39b0"


def play(seconds: int, artist: str = "The Stranglers", title: str = "Golden Brown",
         mbid: str | None = None, **extra) -> Listen:
    extra.setdefault("release_name", "La Folie")
    return Listen(played_at=T0 + timedelta(seconds=seconds), artist_name=artist, track_name=title,
                  recording_mbid=mbid, **extra)


def write(url, listens, source, user="ada", **kwargs) -> WriteReport:
    with connect(url) as conn, conn.cursor() as cur:
        return write_listens(cur, ensure_user(cur, user), listens, source, **kwargs)


def stored(url, user="ada") -> list[tuple]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("""select extract(epoch from l.played_at)::int - %s, t.title, l.source
                       from listen l join track t using (track_id) join users u using (user_id)
                       where u.user_name = %s order by 1, 2, 3""", (int(T0.timestamp()), user))
        return cur.fetchall()


def counts(report: WriteReport) -> tuple:
    return report.received, report.inserted, report.duplicates, report.merged


def test_exact_duplicates_are_stored_once(db_url):
    batch = [play(0), play(0), play(300, title="Always the Sun")]
    assert counts(write(db_url, batch, "listenbrainz")) == (3, 2, 1, 0)
    assert counts(write(db_url, batch, "listenbrainz")) == (3, 0, 3, 0)
    assert stored(db_url) == [(0, "Golden Brown", "listenbrainz"), (300, "Always the Sun", "listenbrainz")]


def test_same_second_different_tracks_are_both_kept(db_url):
    batch = [play(0), play(0, title="Always the Sun"), play(0, artist="Aphex Twin", title="Xtal")]
    assert counts(write(db_url, batch, "lastfm")) == (3, 3, 0, 0)
    assert len(stored(db_url)) == 3


def test_another_sources_copy_within_the_window_is_merged(db_url):
    write(db_url, [play(0), play(1000, title="Always the Sun")], "listenbrainz")
    report = write(db_url, [play(45), play(1000 - 60, title="Always the Sun")], "lastfm", window_s=60)
    assert counts(report) == (2, 0, 0, 2)   # 45 s late, and exactly one window early
    assert [source for _, _, source in stored(db_url)] == ["listenbrainz", "listenbrainz"]


def test_outside_the_window_it_is_a_play_of_its_own(db_url):
    write(db_url, [play(0)], "listenbrainz")
    report = write(db_url, [play(61), play(-61)], "lastfm", window_s=60)
    assert counts(report) == (2, 2, 0, 0)
    assert stored(db_url) == [(-61, "Golden Brown", "lastfm"), (0, "Golden Brown", "listenbrainz"),
                              (61, "Golden Brown", "lastfm")]


def test_parity_is_per_user_and_per_other_source(db_url):
    write(db_url, [play(0)], "listenbrainz", user="bob")
    assert counts(write(db_url, [play(5)], "lastfm", user="ada")) == (1, 1, 0, 0)   # bob's play
    # A same-source listen five seconds apart is a listen of its own, not a parity merge.
    assert counts(write(db_url, [play(10)], "lastfm", user="ada")) == (1, 1, 0, 0)


def test_name_only_and_mbid_identities_of_one_play_are_merged(db_url):
    write(db_url, [play(0, mbid=MBID)], "listenbrainz")
    # Last.fm knows no MBID and spells it differently: the normalised artist + title match.
    report = write(db_url, [play(20, artist="the stranglers", title="Golden Brown!")], "lastfm")
    assert counts(report) == (1, 0, 0, 1)
    # The other way round: the MBID-identified copy arrives second.
    write(db_url, [play(5000, artist="Aphex Twin", title="Xtal")], "lastfm")
    report = write(db_url, [play(5010, artist="Aphex Twin", title="Xtal",
                                 mbid="30d08f4c-d825-4ae1-b79c-44242cddd7c0")], "listenbrainz")
    assert counts(report) == (1, 0, 0, 1)
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(*) filter (where source = 'lastfm') from listen")
        assert cur.fetchone() == (2, 1)
    # The play stays on Last.fm's name-only track until the catalogue is reconciled (the
    # `tracks` asset), which moves it to the identified twin; a re-import then finds it there.
    with connect(db_url) as conn:
        reconcile_catalogue(conn)
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select t.track_key from listen l join track t using (track_id)
                       where t.title = 'Xtal'""")
        assert cur.fetchall() == [("mbid:30d08f4c-d825-4ae1-b79c-44242cddd7c0",)]
    assert counts(write(db_url, [play(5000, artist="Aphex Twin", title="Xtal")], "lastfm")) == (1, 0, 1, 0)


def test_listen_isrcs_join_the_track(db_url):
    write(db_url, [play(0, isrc="GBAYE8100053"), play(400, isrc="GBAYE8100053"),
                   play(800, isrc="USRC17607839")], "listenbrainz")
    write(db_url, [play(1200, isrc="GBAYE8100053")], "listenbrainz")
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select isrcs from track where title = 'Golden Brown'")
        assert cur.fetchall() == [(["GBAYE8100053", "USRC17607839"],)]


def test_a_song_repeated_back_to_back_is_not_merged(db_url):
    # Played twice in a row (a 3:30 song): ListenBrainz has both, Last.fm sends both too.
    write(db_url, [play(0), play(210)], "listenbrainz")
    assert counts(write(db_url, [play(3), play(214)], "lastfm")) == (2, 0, 0, 2)
    # Last.fm saw only the repeat: the first play being stored does not swallow the second.
    write(db_url, [play(9000)], "listenbrainz")
    assert counts(write(db_url, [play(9210)], "lastfm")) == (1, 1, 0, 0)
    # One source alone never merges its own repeats.
    assert counts(write(db_url, [play(20000), play(20030)], "lastfm")) == (2, 2, 0, 0)


def test_counts_add_up_and_match_the_table(db_url):
    write(db_url, [play(0), play(600, title="Always the Sun")], "listenbrainz")
    write(db_url, [play(1200, title="Skin Deep")], "lastfm")
    batch = [play(10),                                   # merged with the ListenBrainz copy
             play(1200, title="Skin Deep"),              # already stored from Last.fm
             play(1200, title="Skin Deep"),              # ... and twice in this batch
             play(1800, title="No More Heroes"),         # new
             play(1800, title="Peaches"),                # new, same second
             play(605, title="Always the Sun")]          # merged
    report = write(db_url, batch, "lastfm")
    assert counts(report) == (6, 2, 2, 2)
    assert report.received == report.inserted + report.duplicates + report.merged
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from listen")
        assert cur.fetchone()[0] == 3 + report.inserted


def test_naive_times_are_utc_and_import_id_is_recorded(db_url):
    naive = Listen(played_at=datetime(2024, 5, 1, 20, 0, 0), artist_name="A", track_name="B",
                   recording_msid="03dcc65c-0e01-4f25-aa1f-0f469d10e2ad")
    with connect(db_url) as conn, conn.cursor() as cur:
        user = ensure_user(cur, "ada")
        cur.execute("""insert into listen_import (user_id, source, content_hash, path)
                       values (%s, 'listenbrainz', 'h', 'p') returning import_id""", (user,))
        import_id = cur.fetchone()[0]
        assert write_listens(cur, user, [naive], "listenbrainz", import_id=import_id).inserted == 1
        cur.execute("select played_at, import_id, recording_msid from listen")
        assert cur.fetchone() == (T0, import_id, "03dcc65c-0e01-4f25-aa1f-0f469d10e2ad")


def test_text_that_needs_escaping_in_copy_is_stored_verbatim(db_url):
    odd = play(0, artist="AC\\DC\tlive", title="Line\nbreak\r\\N", release_name=None,
               recording_msid="msid\\with\ttab")
    assert write(db_url, [odd], "lastfm").inserted == 1
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select a.name, t.title, l.recording_msid, t.release_id
                       from listen l join track t using (track_id) join artist a using (artist_id)""")
        assert cur.fetchone() == ("AC\\DC\tlive", "Line\nbreak\r\\N", "msid\\with\ttab", None)


@pytest.mark.parametrize("window", [0, 60])
def test_empty_batches_and_window_zero(db_url, window):
    assert counts(write(db_url, [], "lastfm", window_s=window)) == (0, 0, 0, 0)
    write(db_url, [play(0)], "listenbrainz")
    expected = (1, 0, 0, 1) if window else (1, 1, 0, 0)
    assert counts(write(db_url, [play(1)], "lastfm", window_s=window)) == expected
