"""Last.fm history import: paging, resumable cursor, sync runs, and parity with ListenBrainz."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import psycopg2
import pytest

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.lastfm_import import SyncAlreadyRunning, import_lastfm
from sidetrack_pipeline.ingest.listen_writer import write_listens
from sidetrack_pipeline.sources.lastfm import LastfmNotFound, LastfmPrivateProfile, LastfmUnavailable
from sidetrack_pipeline.sources.listen import Listen
from tests.fake_lastfm import Scrobble, client_for

pytest_plugins = ["tests.lastfm_fixtures"]  # fake_lastfm

BASE = 1_700_000_000


@pytest.fixture
def conn(db_url):
    conn = psycopg2.connect(db_url)
    yield conn
    conn.close()


@pytest.fixture
def client(fake_lastfm, tmp_path):
    with client_for(fake_lastfm, tmp_path / "ratelimit") as client:
        yield client


def history(n: int, start: int = BASE) -> list[Scrobble]:
    """n scrobbles 200 s apart over 40 artists; two of them share one second."""
    plays = [Scrobble(start + 200 * i, f"Artist {i % 40}", f"Song {i}", f"Album {i % 7}") for i in range(n)]
    plays.append(Scrobble(start + 200 * 5, "Artist 99", "Same second"))
    return plays


def stored(conn, source: str | None = None) -> set[tuple[str, str, int]]:
    with conn.cursor() as cur:
        cur.execute("""select a.name, t.title, extract(epoch from l.played_at)::bigint
                       from listen l join track t using (track_id) join artist a using (artist_id)
                       where %(s)s::text is null or l.source = %(s)s""", {"s": source})
        return set(cur.fetchall())


def cursor_of(conn, user: str) -> dict:
    with conn.cursor() as cur:
        cur.execute("""select cursor from sync_cursor join users using (user_id)
                       where user_name = %s and source = 'lastfm'""", (user,))
        return cur.fetchone()[0]


def runs(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("""select mode, status, pages, fetched, inserted, duplicates, merged, error
                       from sync_run order by run_id""")
        return cur.fetchall()


def test_multi_page_import_is_exact_and_a_reimport_adds_nothing(conn, fake_lastfm, client):
    plays = history(450)
    fake_lastfm.add("lfm_ann", *plays)
    fake_lastfm.now_playing["lfm_ann"] = Scrobble(0, "Artist 1", "Now on")
    seen_pages = []

    report = import_lastfm(conn, "ann", client, "lfm_ann",
                           on_page=lambda r: seen_pages.append((r.pages, r.total_pages)))

    assert stored(conn, "lastfm") == {(p.artist, p.track, p.uts) for p in plays}
    assert (report.mode, report.pages, report.fetched, report.inserted, report.duplicates) == (
        "full", 3, 451, 451, 0)
    assert report.now_playing_skipped == 3  # on top of every page
    assert seen_pages == [(1, 3), (2, 3), (3, 3)]
    calls = fake_lastfm.calls("user.getRecentTracks")
    assert [c["page"] for c in calls] == ["1", "2", "3"]
    assert len({c["to"] for c in calls}) == 1 and not any("from" in c for c in calls)
    assert cursor_of(conn, "ann") == {"lastfm_user": "lfm_ann", "newest_uts": BASE + 200 * 449,
                                      "pending": None}

    again = import_lastfm(conn, "ann", client, "lfm_ann")

    assert again.mode == "incremental" and again.from_ts == BASE + 200 * 449
    # The fake includes the `from` bound, so the newest scrobble comes back once, as a duplicate.
    assert (again.fetched, again.inserted, again.duplicates) == (1, 0, 1)
    assert len(stored(conn)) == 451
    assert runs(conn) == [("full", "ok", 3, 451, 451, 0, 0, None),
                          ("incremental", "ok", 1, again.fetched, 0, again.duplicates, 0, None)]


def test_scrobbles_arriving_during_a_sync_wait_for_the_next_one(conn, fake_lastfm, client):
    fake_lastfm.add("lfm_bo", *history(300))
    late = Scrobble(int(time.time()) + 3600, "Artist Late", "Arrived while paging")

    def arrive_after_first_page(params):
        if params["page"] == "1":
            fake_lastfm.add("lfm_bo", late)
    fake_lastfm.after_page.append(arrive_after_first_page)

    first = import_lastfm(conn, "bo", client, "lfm_bo", page_size=100)
    assert (first.pages, first.inserted) == (4, 301)      # pages held still: nothing seen twice
    assert first.duplicates == 0
    assert ("Artist Late", "Arrived while paging", late.uts) not in stored(conn)

    fake_lastfm.after_page.clear()
    second = import_lastfm(conn, "bo", client, "lfm_bo", to_ts=late.uts + 1)
    assert second.inserted == 1
    assert ("Artist Late", "Arrived while paging", late.uts) in stored(conn)


def test_a_failed_sync_resumes_at_the_page_it_stopped_at(conn, fake_lastfm, client):
    plays = history(500)
    fake_lastfm.add("lfm_cy", *plays)
    fake_lastfm.fail(503, "<html>Service Unavailable</html>", method="user.getRecentTracks",
                     match={"page": "2"}, times=None)

    with pytest.raises(LastfmUnavailable):
        import_lastfm(conn, "cy", client, "lfm_cy")

    assert len(stored(conn)) == 200                       # page 1 was committed
    pending = cursor_of(conn, "cy")["pending"]
    assert pending["next_page"] == 2 and pending["from"] is None
    (mode, status, pages, fetched, inserted, *_, error), = runs(conn)
    assert (status, pages, inserted) == ("failed", 1, 200) and "HTTP 503" in error

    fake_lastfm.failures.clear()
    calls_before = len(fake_lastfm.calls())
    report = import_lastfm(conn, "cy", client, "lfm_cy")

    resumed = fake_lastfm.calls()[calls_before:]
    assert resumed[0]["page"] == "2" and resumed[0]["to"] == str(pending["to"])
    assert report.first_page == 2 and report.inserted == 301
    assert stored(conn) == {(p.artist, p.track, p.uts) for p in plays}
    assert cursor_of(conn, "cy")["newest_uts"] == BASE + 200 * 499
    assert runs(conn)[-1][:2] == ("full", "ok")


def test_unknown_and_private_users_fail_the_run_with_a_clear_error(conn, fake_lastfm, client):
    with pytest.raises(LastfmNotFound, match="User not found"):
        import_lastfm(conn, "dee", client, "no_such_user")
    fake_lastfm.add("secret", Scrobble(BASE, "A", "T"))
    fake_lastfm.private_users.add("secret")
    with pytest.raises(LastfmPrivateProfile):
        import_lastfm(conn, "dee", client, "secret")

    assert [(r[1], r[7].split(":")[0]) for r in runs(conn)] == [
        ("failed", "LastfmNotFound"), ("failed", "LastfmPrivateProfile")]
    assert len(fake_lastfm.calls()) == 2                  # neither was retried
    assert stored(conn) == set()


def test_two_syncs_of_one_user_never_run_at_once(conn, db_url, fake_lastfm, client):
    with conn.cursor() as cur:
        user_id = ensure_user(cur, "eve")
    conn.commit()
    other = psycopg2.connect(db_url)
    try:
        with other.cursor() as cur:
            cur.execute("select pg_advisory_lock(hashtext('sidetrack.lastfm_sync'), %s)", (user_id,))
        with pytest.raises(SyncAlreadyRunning):
            import_lastfm(conn, "eve", client, "lfm_eve")
    finally:
        other.close()
    fake_lastfm.add("lfm_eve", Scrobble(BASE, "A", "T"))
    assert import_lastfm(conn, "eve", client, "lfm_eve").inserted == 1


# -- parity with ListenBrainz --------------------------------------------------------------------

def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


MB = {name: f"00000000-0000-4000-8000-{i:012d}" for i, name in enumerate(
    ["Hells Bells", "Like a Stone", "Paranoid Android", "Hyperballad", "Sweet Child o' Mine",
     "Back in Black", "Acdc artist"])}


def listenbrainz_history() -> list[Listen]:
    """What ListenBrainz has: MBID-mapped plays, two name-only ones, a song played twice in a row."""
    return [
        Listen(at(BASE + 0), "AC/DC", "Hells Bells", "Back in Black", recording_mbid=MB["Hells Bells"]),
        Listen(at(BASE + 312), "AC/DC", "Hells Bells", "Back in Black", recording_mbid=MB["Hells Bells"]),
        Listen(at(BASE + 700), "Audioslave", "Like a Stone", recording_mbid=MB["Like a Stone"]),
        Listen(at(BASE + 1000), "Radiohead", "Paranoid Android", recording_mbid=MB["Paranoid Android"]),
        Listen(at(BASE + 1400), "Björk", "Hyperballad", recording_mbid=MB["Hyperballad"]),
        Listen(at(BASE + 1800), "Guns N' Roses", "Sweet Child o' Mine",
               recording_mbid=MB["Sweet Child o' Mine"]),
        Listen(at(BASE + 2200), "AC/DC", "Back in Black", recording_mbid=MB["Back in Black"]),
        Listen(at(BASE + 2600), "Portishead", "Roads"),                      # name-only on both
        Listen(at(BASE + 3000), "Massive Attack", "Teardrop"),
        Listen(at(BASE + 3400), "Boards of Canada", "Roygbiv"),              # ListenBrainz only
    ]


def lastfm_history() -> list[Scrobble]:
    """The same plays seen by Last.fm a few seconds off, some with the MBID, some by name only,
    written differently, plus plays only Last.fm has."""
    return [
        Scrobble(BASE + 4, "AC/DC", "Hells Bells", "Back in Black", mbid=MB["Hells Bells"]),
        Scrobble(BASE + 309, "AC/DC", "Hells Bells", "Back in Black", mbid=MB["Hells Bells"]),
        Scrobble(BASE + 706, "audioslave", "like a stone"),                 # name only, lower case
        Scrobble(BASE + 995, "Radiohead", "Paranoid Android", mbid=MB["Paranoid Android"]),
        Scrobble(BASE + 1402, "Bjork", "Hyperballad"),                       # no accent, no MBID
        Scrobble(BASE + 1797, "Guns N Roses", "Sweet Child O' Mine"),       # punctuation, case
        Scrobble(BASE + 2203, "AC-DC", "Back In Black"),
        Scrobble(BASE + 2605, "PORTISHEAD", "Roads"),
        Scrobble(BASE + 2998, "Massive Attack", "Teardrop."),
        Scrobble(BASE + 5000, "Aphex Twin", "Xtal"),                          # Last.fm only
        Scrobble(BASE + 5400, "Aphex Twin", "Ageispolis"),
        Scrobble(BASE + 5800, "Radiohead", "Paranoid Android", mbid=MB["Paranoid Android"]),
    ]


SHARED_PLAYS = 9


@pytest.mark.parametrize("listenbrainz_first", [True, False], ids=["listenbrainz-first", "lastfm-first"])
def test_parity_each_play_is_stored_once(conn, fake_lastfm, client, listenbrainz_first):
    fake_lastfm.add("lfm_fay", *lastfm_history())

    def import_listenbrainz():
        with conn.cursor() as cur:
            report = write_listens(cur, ensure_user(cur, "fay"), listenbrainz_history(), "listenbrainz")
        conn.commit()
        return report

    if listenbrainz_first:
        lb = import_listenbrainz()
        lfm = import_lastfm(conn, "fay", client, "lfm_fay")
        assert (lb.inserted, lb.merged) == (10, 0)
        assert (lfm.fetched, lfm.inserted, lfm.merged, lfm.duplicates) == (12, 3, SHARED_PLAYS, 0)
    else:
        lfm = import_lastfm(conn, "fay", client, "lfm_fay")
        lb = import_listenbrainz()
        assert (lfm.inserted, lfm.merged) == (12, 0)
        assert (lb.inserted, lb.merged) == (1, SHARED_PLAYS)

    with conn.cursor() as cur:
        cur.execute("select count(*) from listen")
        assert cur.fetchone()[0] == 10 + 3
        # No two stored plays of the same song within a minute of each other.
        cur.execute("""select count(*) from listen a join listen b on a.listen_id < b.listen_id
                       join track ta on ta.track_id = a.track_id join track tb on tb.track_id = b.track_id
                       where ta.name_key = tb.name_key
                         and abs(extract(epoch from a.played_at - b.played_at)) <= 60""")
        assert cur.fetchone()[0] == 0
        cur.execute("select merged from sync_run")
        assert cur.fetchone()[0] == (SHARED_PLAYS if listenbrainz_first else 0)

    # The song played twice in a row stays two plays; a re-import of either source adds nothing.
    hells = {ts for artist, title, ts in stored(conn) if title.lower() == "hells bells"}
    assert len(hells) == 2
    again = import_lastfm(conn, "fay", client, "lfm_fay", from_ts=BASE - 1)
    assert again.inserted == 0 and again.fetched == 12
    assert import_listenbrainz().inserted == 0
    assert len(stored(conn)) == 13


def test_an_empty_page_before_the_last_one_stops_the_sync_without_losing_the_rest(conn, fake_lastfm, client):
    plays = history(250)
    fake_lastfm.add("lfm_hal", *plays)
    empty_page = ('{"recenttracks": {"@attr": {"page": "2", "total": "251", "user": "lfm_hal", '
                  '"perPage": "100", "totalPages": "3"}, "track": []}}')
    fake_lastfm.fail(200, empty_page, method="user.getRecentTracks", match={"page": "2"})

    with pytest.raises(LastfmUnavailable, match="page 2 of 3 came back empty"):
        import_lastfm(conn, "hal", client, "lfm_hal", page_size=100)
    assert cursor_of(conn, "hal")["pending"]["next_page"] == 2
    assert cursor_of(conn, "hal")["newest_uts"] is None

    report = import_lastfm(conn, "hal", client, "lfm_hal", page_size=100)
    assert (report.first_page, report.pages) == (2, 2)
    assert stored(conn) == {(p.artist, p.track, p.uts) for p in plays}
