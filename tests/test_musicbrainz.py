"""The MusicBrainz client against a fake WS/2 server on 127.0.0.1 (tests/fake_musicbrainz.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from sidetrack_pipeline import __version__
from sidetrack_pipeline.ingest.response_cache import DbResponseCache
from sidetrack_pipeline.sources.musicbrainz import (RECORDING_INC, RELEASE_INC, InvalidMbid, MusicBrainzClient,
                                                    MusicBrainzConfigError, MusicBrainzUnavailable, NotFound)
from sidetrack_pipeline.sources.musicbrainz_match import choose_recording, lucene_escape, recording_query
from tests import fake_musicbrainz as mb

REPO = Path(__file__).resolve().parents[1]
CONTACT = "tests@example.org"

CALEXICO = mb.artist("Calexico", type="Group", country="US", tags={"americana": 2, "alternative": 1},
                     genres={"americana": 2})
GUEST = mb.artist("Guest Singer", sort_name="Singer, Guest", type="Person", country="GB")
FIRE = mb.label("Fire Records")
ALBUM = mb.release("Feast of Wire", credits=mb.credit(CALEXICO), date="2003-02-18", country="US",
                   labels=[(FIRE, "FireCD262"), (None, "PROMO-1")])
WORK = mb.work("Alone Again Or")
ORIGINAL = mb.recording("Alone Again Or (orig)", length=200_000, credits=mb.credit(GUEST))
SONG = mb.recording("Alone Again Or", length=204_480, credits=mb.credit(CALEXICO, " feat. ", GUEST),
                    releases=[ALBUM], isrcs=("USXX10300001",), tags={"alternative": 1, "country": 3},
                    genres={"alternative country": 2},
                    relations=[mb.relation("remix", "recording", ORIGINAL, "forward"),
                               mb.relation("performance", "work", WORK, "forward", ("cover",)),
                               mb.relation("vocal", "artist", GUEST, "backward", ("lead vocals",))])


@pytest.fixture
def server():
    with mb.FakeMusicBrainz() as fake:
        fake.add_recording(SONG)
        fake.add("artist", CALEXICO)
        yield fake


def client_for(server, tmp_path, **kw) -> MusicBrainzClient:
    options = dict(base_url=server.base_url, interval_s=0.0, lock_dir=tmp_path / "locks",
                   backoff_s=0.05, max_attempts=3)
    return MusicBrainzClient(kw.pop("contact", CONTACT), **(options | kw))


def gaps(seen) -> list[float]:
    times = sorted(s.at for s in seen)
    return [b - a for a, b in zip(times, times[1:])]


# ---- identification --------------------------------------------------------------------------

def test_user_agent_carries_the_contact_and_every_request_asks_for_json(server, tmp_path):
    with client_for(server, tmp_path) as client:
        client.lookup_recording(SONG["id"])
    (seen,) = server.requests
    assert seen.user_agent == f"SideTrack/{__version__} ( {CONTACT} )"
    assert seen.params["fmt"] == "json" and seen.status == 200


def test_contact_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICBRAINZ_CONTACT", "https://example.org/sidetrack")
    with client_for(server, tmp_path, contact=None) as client:
        client.lookup_artist(CALEXICO["id"])
    assert server.requests[0].user_agent == f"SideTrack/{__version__} ( https://example.org/sidetrack )"


@pytest.mark.parametrize("contact", [None, "", "   "])
def test_refuses_to_run_without_a_contact(server, tmp_path, monkeypatch, contact):
    monkeypatch.delenv("MUSICBRAINZ_CONTACT", raising=False)
    with pytest.raises(MusicBrainzConfigError, match="set MUSICBRAINZ_CONTACT"):
        client_for(server, tmp_path, contact=contact)
    assert server.requests == []


# ---- lookups ----------------------------------------------------------------------------------

def test_recording_lookup_asks_for_everything_resolution_stores(server, tmp_path):
    with client_for(server, tmp_path) as client:
        rec = client.lookup_recording(SONG["id"])
    assert server.requests[0].path == f"/ws/2/recording/{SONG['id']}"
    assert set(server.requests[0].params["inc"].split()) == set(RECORDING_INC.split("+"))
    assert rec["title"] == "Alone Again Or" and rec["length"] == 204_480 and rec["isrcs"] == ["USXX10300001"]
    assert [c["name"] for c in rec["artist-credit"]] == ["Calexico", "Guest Singer"]
    assert rec["artist-credit"][0]["joinphrase"] == " feat. "
    assert [t["name"] for t in rec["tags"]] == ["alternative", "country"]  # sorted by name, as served
    assert rec["releases"][0]["release-group"]["primary-type"] == "Album"
    # recording-rels and work-rels were asked for, artist-rels were not
    assert sorted((r["type"], r["target-type"]) for r in rec["relations"]) == [
        ("performance", "work"), ("remix", "recording")]
    assert next(r for r in rec["relations"] if r["type"] == "performance")["attributes"] == ["cover"]


def test_release_lookup_brings_labels_group_and_credits(server, tmp_path):
    with client_for(server, tmp_path) as client:
        release = client.lookup_release(ALBUM["id"])
    assert set(server.requests[0].params["inc"].split()) == set(RELEASE_INC.split("+"))
    assert [(li["label"] and li["label"]["name"], li["catalog-number"]) for li in release["label-info"]] == [
        ("Fire Records", "FireCD262"), (None, "PROMO-1")]
    assert release["release-group"]["id"] == ALBUM["release-group"]["id"]
    assert release["artist-credit"][0]["artist"]["id"] == CALEXICO["id"]


def test_artist_lookup_brings_tags_and_genres(server, tmp_path):
    with client_for(server, tmp_path) as client:
        artist = client.lookup_artist(CALEXICO["id"])
    assert (artist["sort-name"], artist["type"], artist["country"]) == ("Calexico", "Group", "US")
    assert {t["name"] for t in artist["tags"]} == {"americana", "alternative"}
    assert [g["name"] for g in artist["genres"]] == ["americana"]


def test_unknown_mbid_is_not_found(server, tmp_path):
    missing = mb.mbid()
    with client_for(server, tmp_path) as client, pytest.raises(NotFound, match=missing):
        client.lookup_recording(missing)
    assert [s.status for s in server.requests] == [404]


def test_malformed_mbid_is_a_clear_error(server, tmp_path):
    with client_for(server, tmp_path) as client:
        with pytest.raises(InvalidMbid, match="'not-an-mbid' as an invalid recording MBID"):
            client.lookup_recording("not-an-mbid")
        with pytest.raises(InvalidMbid):  # a slash cannot reach another endpoint
            client.lookup_recording(f"../artist/{CALEXICO['id']}")
    assert [s.status for s in server.requests] == [400, 400]
    assert server.requests[1].path.startswith("/ws/2/recording/")


# ---- being polite: 503, back-off, the shared limiter ------------------------------------------

def test_503_is_retried_with_back_off_then_succeeds(server, tmp_path):
    server.fail_next(2, 503)
    with client_for(server, tmp_path, backoff_s=0.05) as client:
        assert client.lookup_recording(SONG["id"])["id"] == SONG["id"]
    assert [s.status for s in server.requests] == [503, 503, 200]
    first, second = gaps(server.requests)
    assert first >= 0.05 and second >= 0.10  # exponential: 0.05·2^(n-1) + jitter


def test_retry_after_is_honoured(server, tmp_path):
    server.fail_next(1, 503, retry_after=0.4)
    with client_for(server, tmp_path, backoff_s=0.01) as client:
        client.lookup_recording(SONG["id"])
    assert gaps(server.requests)[0] >= 0.4


class _BackingOff(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = threading.Event()

    def emit(self, record):
        if "backing off" in record.getMessage():
            self.seen.set()


def test_503_makes_every_client_sharing_the_limiter_back_off(server, tmp_path):
    server.fail_next(1, 503)
    first = client_for(server, tmp_path, backoff_s=0.5)
    other = client_for(server, tmp_path)  # its own RateLimiter object on the same lock file
    backing_off = _BackingOff()
    logging.getLogger("sidetrack_pipeline.sources.musicbrainz").addHandler(backing_off)
    try:
        worker = threading.Thread(target=first.lookup_recording, args=(SONG["id"],))
        worker.start()
        assert backing_off.seen.wait(5)  # the first client has had its 503
        other.lookup_artist(CALEXICO["id"])
    finally:
        logging.getLogger("sidetrack_pipeline.sources.musicbrainz").removeHandler(backing_off)
    worker.join()
    failed_at = next(s.at for s in server.requests if s.status == 503)
    other_at = next(s.at for s in server.requests if "/artist/" in s.path)
    assert other_at - failed_at >= 0.5
    first.close(), other.close()


def test_gives_up_after_the_bounded_retries(server, tmp_path):
    server.fail_next(10, 503)
    with client_for(server, tmp_path, max_attempts=3) as client:
        with pytest.raises(MusicBrainzUnavailable, match="after 3 attempts"):
            client.lookup_recording(SONG["id"])
    assert len(server.requests) == 3


TWO_PROCESS_WORKER = """
import sys, time
from sidetrack_pipeline.sources.musicbrainz import MusicBrainzClient
base_url, lock_dir, start_at, *mbids = sys.argv[1:]
client = MusicBrainzClient("rate-test@example.org", base_url=base_url, lock_dir=lock_dir, interval_s=1.05)
time.sleep(max(0.0, float(start_at) - time.time()))
for mbid in mbids:
    client.lookup_recording(mbid)
"""


def test_two_processes_at_once_never_exceed_one_request_per_second(server, tmp_path):
    recordings = [server.add_recording(mb.recording(f"Song {i}", credits=mb.credit(CALEXICO)))
                  for i in range(12)]
    start_at = time.time() + 2.0  # both start together, after their imports
    workers = [subprocess.Popen([sys.executable, "-c", TWO_PROCESS_WORKER, server.base_url,
                                 str(tmp_path / "shared-locks"), str(start_at),
                                 *[r["id"] for r in recordings[half::2]]], cwd=REPO, stderr=subprocess.PIPE)
               for half in (0, 1)]
    for worker in workers:
        assert worker.wait(60) == 0, worker.stderr.read().decode()
    assert len(server.requests) == 12 and all(s.status == 200 for s in server.requests)
    spacing = gaps(server.requests)
    assert min(spacing) >= 1.0, [round(g, 3) for g in spacing]


# ---- search -----------------------------------------------------------------------------------

def test_lucene_escaping_of_every_special_character():
    assert lucene_escape('a+b-c&d|e!f(g)h{i}j[k]l^m"n~o*p?q:r\\s/t,u') == (
        'a\\+b\\-c\\&d\\|e\\!f\\(g\\)h\\{i\\}j\\[k\\]l\\^m\\"n\\~o\\*p\\?q\\:r\\\\s\\/t\\,u')
    assert recording_query("Title", "Artist") == 'recording:"Title" AND artist:"Artist"'


def test_search_query_survives_quotes_slashes_colons_and_parentheses(server, tmp_path):
    title = 'Live: "Heroes" (Part 1/2) [Remix]?'
    artist = "AC/DC & Friends"
    rec = server.add_recording(mb.recording(title, length=300_000, credits=mb.credit(mb.artist(artist))))
    server.add_search(title, artist, [mb.search_hit(rec, 100)])
    with client_for(server, tmp_path) as client:
        match = client.find_recording(title, artist, 301_000)
    assert match.status == "matched" and match.mbid == rec["id"]
    assert server.queries == [
        'recording:"Live\\: \\"Heroes\\" \\(Part 1\\/2\\) \\[Remix\\]\\?" AND artist:"AC\\/DC \\& Friends"']
    assert server.requests[0].params["limit"] == "10"


def test_search_without_hits_is_not_found(server, tmp_path):
    with client_for(server, tmp_path) as client:
        assert client.find_recording("Nothing", "Nobody").status == "not_found"


def _hit(title, artist_name, score, length):
    rec = mb.recording(title, length=length, credits=mb.credit(mb.artist(artist_name)))
    return mb.search_hit(rec, score)


def test_score_threshold():
    assert choose_recording([_hit("Song", "Band", 89, None)]).status == "not_found"
    assert choose_recording([_hit("Song", "Band", 90, None)]).status == "matched"


def test_duration_must_agree_when_both_are_known():
    short = _hit("Song", "Band", 100, 200_000)
    assert choose_recording([short], duration_ms=215_000).status == "not_found"    # 15 s and > 5 % off
    assert choose_recording([short], duration_ms=209_000).status == "matched"      # within 10 s
    assert choose_recording([_hit("Song", "Band", 100, 620_000)], 600_000).status == "matched"  # within 5 %
    assert choose_recording([_hit("Song", "Band", 100, None)], 600_000).status == "matched"  # unknown length
    assert choose_recording([short], duration_ms=None).status == "matched"
    # a well-scored hit of the wrong length gives way to a lower-scored one that fits
    fits = _hit("Song", "Band", 95, 214_000)
    assert choose_recording([short, fits], duration_ms=215_000).recording is fits


def test_two_different_songs_at_the_top_score_are_ambiguous():
    hits = [_hit("Song", "Band", 100, 200_000), _hit("Song", "Other Band", 100, 201_000)]
    match = choose_recording(hits, 200_000)
    assert match.status == "ambiguous" and match.recording is None
    assert "Other Band" in match.reason
    assert choose_recording([_hit("Song", "Band", 100, 200_000), _hit("Another", "Band", 100, 200_000)]
                            ).status == "ambiguous"
    # a lower-scored different song is no rival
    assert choose_recording([hits[0], _hit("Song", "Other Band", 97, 200_000)]).status == "matched"


def test_several_recordings_of_one_song_pick_the_closest_length():
    hits = [_hit("Alone Again Or", "Calexico", 100, 195_173), _hit("alone again or", "CALEXICO", 100, 204_480)]
    match = choose_recording(hits, duration_ms=204_000)
    assert match.status == "matched" and match.recording is hits[1]


# ---- the response cache ----------------------------------------------------------------------

def test_db_cache_answers_repeats_without_requests(server, tmp_path, db_url):
    missing = mb.mbid()
    with DbResponseCache.open(db_url) as cache, client_for(server, tmp_path, cache=cache) as client:
        for _ in range(2):
            assert client.lookup_recording(SONG["id"])["title"] == "Alone Again Or"
            with pytest.raises(NotFound):
                client.lookup_recording(missing)
            assert client.find_recording("Alone Again Or", "Calexico").status == "not_found"
        assert len(server.requests) == 3
        server.fail_next(3, 503)  # a 503 is never cached
        with pytest.raises(MusicBrainzUnavailable):
            client.lookup_artist(CALEXICO["id"])
        assert client.lookup_artist(CALEXICO["id"])["name"] == "Calexico"
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute("select status, count(*) from api_cache group by status order by status")
        assert cur.fetchall() == [(200, 3), (404, 1)]
        cur.execute("update api_cache set expires_at = now() - interval '1 second' where status = 404")
    conn.close()
    with DbResponseCache.open(db_url) as cache, client_for(server, tmp_path, cache=cache) as client:
        before = len(server.requests)
        with pytest.raises(NotFound):
            client.lookup_recording(missing)  # expired: asked again
        assert len(server.requests) == before + 1
