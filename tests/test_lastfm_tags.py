"""Last.fm top tags for the catalogue: storage, the api_cache TTL, not-found memory, failures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg2
import pytest

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.lastfm_tags import fetch_lastfm_tags
from sidetrack_pipeline.ingest.listen_writer import write_listens
from sidetrack_pipeline.sources.lastfm import LastfmKeyError
from sidetrack_pipeline.sources.listen import Listen
from tests.fake_lastfm import FAST_RETRY, client_for

pytest_plugins = ["tests.lastfm_fixtures"]  # fake_lastfm

BASE = 1_700_000_000


@pytest.fixture
def conn(db_url):
    conn = psycopg2.connect(db_url)
    with conn.cursor() as cur:
        plays = ([("Audioslave", "Like a Stone")] * 3 + [("AC/DC", "Hells Bells")] * 2
                 + [("Unknown Band", "Demo")])
        write_listens(cur, ensure_user(cur, "gus"),
                      [Listen(datetime.fromtimestamp(BASE + 600 * i, tz=timezone.utc), artist, title)
                       for i, (artist, title) in enumerate(plays)], "listenbrainz")
    conn.commit()
    yield conn
    conn.close()


@pytest.fixture
def fake(fake_lastfm):
    fake_lastfm.artist_tags["audioslave"] = [("rock", 100), ("Alternative Rock", 78), ("Grunge", 41),
                                             ("grunge", 3)]
    fake_lastfm.artist_tags["ac/dc"] = [("hard rock", 100), ("classic rock", 64)]
    fake_lastfm.track_tags[("audioslave", "like a stone")] = [("rock", 100), ("ballad", 12)]
    fake_lastfm.track_tags[("ac/dc", "hells bells")] = [("hard rock", 100), ("80s", 14)]
    return fake_lastfm  # "Unknown Band": artist error 6, track "Demo" an empty list


@pytest.fixture
def client(fake, tmp_path):
    with client_for(fake, tmp_path / "ratelimit") as client:
        yield client


def tags_of(conn, kind: str) -> dict[str, dict[str, float]]:
    table, join = {"artist": ("artist_tag", "artist a on a.artist_id = x.artist_id"),
                   "track": ("track_tag", "track t on t.track_id = x.track_id")}[kind]
    label = "a.name" if kind == "artist" else "t.title"
    with conn.cursor() as cur:
        cur.execute(f"""select {label}, g.name, x.weight, x.source from {table} x join {join}
                        join tag g on g.tag_id = x.tag_id""")
        result: dict[str, dict[str, float]] = {}
        for name, tag, weight, source in cur.fetchall():
            assert source == "lastfm"
            result.setdefault(name, {})[tag] = weight
        return result


def asked(fake) -> list[tuple[str, ...]]:
    return [(p["method"], p["artist"]) + ((p["track"],) if "track" in p else ()) for p in fake.calls()]


def test_tags_are_stored_most_listened_first_and_cached(conn, fake, client):
    report = fetch_lastfm_tags(conn, client)

    assert asked(fake) == [
        ("artist.getTopTags", "Audioslave"), ("artist.getTopTags", "AC/DC"),
        ("artist.getTopTags", "Unknown Band"),
        ("track.getTopTags", "Audioslave", "Like a Stone"), ("track.getTopTags", "AC/DC", "Hells Bells"),
        ("track.getTopTags", "Unknown Band", "Demo")]
    assert (report.requested, report.tagged, report.without_tags, report.not_found, report.failed) == (
        6, 4, 1, 1, [])
    assert tags_of(conn, "artist") == {
        "Audioslave": {"rock": 1.0, "alternative rock": 0.78, "grunge": 0.41},
        "AC/DC": {"hard rock": 1.0, "classic rock": 0.64}}
    assert tags_of(conn, "track") == {"Like a Stone": {"rock": 1.0, "ballad": 0.12},
                                      "Hells Bells": {"hard rock": 1.0, "80s": 0.14}}
    with conn.cursor() as cur:
        cur.execute("""select url, status, expires_at - fetched_at from api_cache order by url""")
        cache = {url: (status, ttl) for url, status, ttl in cur.fetchall()}
    assert cache == {
        "lastfm:artist.getTopTags?artist=AC%2FDC&autocorrect=1": (200, timedelta(days=30)),
        "lastfm:artist.getTopTags?artist=Audioslave&autocorrect=1": (200, timedelta(days=30)),
        "lastfm:artist.getTopTags?artist=Unknown+Band&autocorrect=1": (404, timedelta(days=7)),
        "lastfm:track.getTopTags?artist=AC%2FDC&autocorrect=1&track=Hells+Bells": (200, timedelta(days=30)),
        "lastfm:track.getTopTags?artist=Audioslave&autocorrect=1&track=Like+a+Stone": (200, timedelta(days=30)),
        "lastfm:track.getTopTags?artist=Unknown+Band&autocorrect=1&track=Demo": (200, timedelta(days=7)),
    }
    assert not any(fake.api_key in url for url in cache)

    before = len(fake.calls())
    rerun = fetch_lastfm_tags(conn, client)
    assert len(fake.calls()) == before                    # within the TTL: no request at all
    assert (rerun.requested, rerun.cached) == (0, 6)


def test_exactly_the_expired_entries_are_fetched_again(conn, fake, client):
    fetch_lastfm_tags(conn, client, ttl=timedelta(days=10), not_found_ttl=timedelta(days=2))
    fake.artist_tags["audioslave"] = [("post-grunge", 100)]  # Last.fm's tags changed meanwhile
    with conn.cursor() as cur:
        cur.execute("""update api_cache set expires_at = now() - interval '1 second'
                       where url in ('lastfm:artist.getTopTags?artist=Audioslave&autocorrect=1',
                                     'lastfm:artist.getTopTags?artist=Unknown+Band&autocorrect=1')""")
    conn.commit()
    before = len(fake.calls())

    report = fetch_lastfm_tags(conn, client)

    assert asked(fake)[before:] == [("artist.getTopTags", "Audioslave"),
                                    ("artist.getTopTags", "Unknown Band")]
    assert (report.requested, report.cached, report.tagged, report.not_found) == (2, 4, 1, 1)
    assert tags_of(conn, "artist")["Audioslave"] == {"post-grunge": 1.0}  # replaced, not added


def test_a_failing_item_is_recorded_and_the_batch_goes_on(conn, fake, client):
    fake.fail(503, "<html>Service Unavailable</html>", method="artist.getTopTags",
              match={"artist": "AC/DC"}, times=None)

    report = fetch_lastfm_tags(conn, client)

    assert [item for item, error in report.failed] == ["artist AC/DC"]
    assert "HTTP 503" in report.failed[0][1]
    assert len([c for c in fake.calls() if c.get("artist") == "AC/DC" and "track" not in c]) == \
        FAST_RETRY.attempts
    assert set(tags_of(conn, "artist")) == {"Audioslave"}
    assert set(tags_of(conn, "track")) == {"Like a Stone", "Hells Bells"}

    fake.failures.clear()
    before = len(fake.calls())
    retry = fetch_lastfm_tags(conn, client)              # a failure is not cached: asked again
    assert asked(fake)[before:] == [("artist.getTopTags", "AC/DC")]
    assert retry.tagged == 1 and retry.failed == []


def test_limit_takes_the_most_listened_first_and_counts_the_rest(conn, fake, client):
    report = fetch_lastfm_tags(conn, client, kinds=("track",), limit=2)
    assert asked(fake) == [("track.getTopTags", "Audioslave", "Like a Stone"),
                           ("track.getTopTags", "AC/DC", "Hells Bells")]
    assert (report.requested, report.left) == (2, 1)


def test_many_failures_in_a_row_stop_the_batch(conn, fake, client):
    fake.fail(200, error=11, times=None)
    report = fetch_lastfm_tags(conn, client, max_consecutive_failures=2)
    assert len(report.failed) == 2 and "in a row" in report.stopped
    assert len(fake.calls()) == 2 * FAST_RETRY.attempts


def test_an_invalid_key_stops_the_batch_at_once(conn, fake, client):
    fake.fail(403, error=10, times=None)
    with pytest.raises(LastfmKeyError):
        fetch_lastfm_tags(conn, client)
    assert len(fake.calls()) == 1
