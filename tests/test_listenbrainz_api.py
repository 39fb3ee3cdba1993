"""The ListenBrainz client against a fake ListenBrainz server on 127.0.0.1 (real formats, real HTTP).

Waiting goes through a virtual clock: the client's `sleep` advances it, and the fake server's
rate-limit window runs on the same clock, so the tests see exactly how long the client waited
without waiting.
"""

from __future__ import annotations

import logging

import pytest

from sidetrack_pipeline import __version__
from sidetrack_pipeline.sources.listenbrainz_api import (
    InvalidToken, ListenBrainzClient, ListenBrainzError, ListenBrainzUnavailable, RetryPolicy,
    UserNotFound, parse_listens_page)
from tests.fake_listenbrainz import FakeListenBrainz, listen_json, make_recordings

START = 1_500_000_000
TOKEN = "3f9c1e0a-5b7d-4e2f-9a8c-0d1e2f3a4b5c"


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def waits(self) -> list[float]:
        return [s for s in self.sleeps if s > 0]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def recordings():
    return make_recordings(40)


@pytest.fixture
def server(clock, recordings):
    with FakeListenBrainz(clock=clock) as fake:
        fake.add_user("alice", [listen_json(START + i * 60, recordings[i], "alice") for i in range(30)],
                      token=TOKEN)
        yield fake


def make_client(server, clock, attempts=4, timeout_s=5.0) -> ListenBrainzClient:
    policy = RetryPolicy(attempts=attempts, backoff_s=0.5, max_backoff_s=2)
    return ListenBrainzClient(server.url, retry=policy, sleep=clock.sleep, clock=clock, timeout_s=timeout_s)


@pytest.fixture
def client(server, clock):
    with make_client(server, clock) as lb:
        yield lb


def test_listens_are_parsed_from_the_api_shape(client, recordings):
    page = client.get_listens("alice", max_ts=START + 3 * 60)  # exclusive: listens 2, 1, 0
    assert page.timestamps == [START + 120, START + 60, START]
    by_msid = {listen.recording_msid: listen for listen in page.listens}
    mapped, seconds_duration, plain = (by_msid[recordings[i].msid] for i in range(3))
    # 0: mapped (mbid_mapping wins), duration_ms, an ISRC
    assert (mapped.recording_mbid, mapped.artist_mbid, mapped.release_mbid) == (
        recordings[0].mbid, recordings[0].artist_mbid, recordings[0].release_mbid)
    assert (mapped.duration_ms, mapped.isrc) == (180_407, "GBAFL1600000")
    assert (mapped.artist_name, mapped.track_name, mapped.release_name) == ("Artist 0", "Song 0", "Album 0")
    assert mapped.played_at.timestamp() == START
    # 1: unmapped, empty-string MBIDs, duration in seconds
    assert (seconds_duration.recording_mbid, seconds_duration.release_mbid) == (None, None)
    assert seconds_duration.duration_ms == 181_000
    assert plain.isrc is None and plain.duration_ms == 182_407
    assert page.rejected == []


def test_a_listen_that_cannot_be_used_is_reported_not_dropped_silently(server, client, recordings):
    broken = listen_json(START + 10, recordings[35], "alice")
    broken["track_metadata"]["artist_name"] = ""
    server.add_listens("alice", [broken])
    page = client.get_listens("alice", min_ts=START + 5, max_ts=START + 61)
    assert page.timestamps == [START + 60, START + 10]
    assert [(r.listened_at, r.recording_msid, r.reason) for r in page.rejected] == [
        (START + 10, recordings[35].msid, "missing artist_name")]


def test_bounds_are_exclusive_and_answers_newest_first(server, client, recordings):
    s = START + 10_000
    stamps = [s, s + 1, s + 1, s + 2, s + 5, s + 5, s + 5, s + 9]
    server.add_user("bob", [listen_json(ts, recordings[i], "bob") for i, ts in enumerate(stamps)])

    assert client.get_listens("bob").timestamps == sorted(stamps, reverse=True)
    assert client.get_listens("bob", max_ts=s + 5).timestamps == [s + 2, s + 1, s + 1, s]
    assert client.get_listens("bob", max_ts=s + 5, count=2).timestamps == [s + 2, s + 1]
    assert client.get_listens("bob", min_ts=s + 1).timestamps == [s + 9, s + 5, s + 5, s + 5, s + 2]
    # only min_ts: the `count` listens just after it, still newest first
    assert client.get_listens("bob", min_ts=s, count=3).timestamps == [s + 2, s + 1, s + 1]
    one_second = client.get_listens("bob", min_ts=s + 4, max_ts=s + 6)
    assert one_second.timestamps == [s + 5] * 3
    assert (one_second.latest_listen_ts, one_second.oldest_listen_ts) == (s + 9, s)
    assert client.get_listens("bob", min_ts=s + 9).timestamps == []


def test_count_is_capped_at_1000_and_bad_parameters_are_refused(server, client, recordings):
    many = make_recordings(1200, seed=3)
    server.add_user("carol", [listen_json(START + i, many[i], "carol") for i in range(1200)])
    body = client.get_json("/1/user/carol/listens", {"count": 5000})
    assert len(body["payload"]["listens"]) == body["payload"]["count"] == 1000
    with pytest.raises(ValueError, match="count must be 1..1000"):
        client.get_listens("carol", count=1001)
    with pytest.raises(ValueError, match="must be greater than min_ts"):
        client.get_listens("carol", min_ts=START + 5, max_ts=START + 5)
    asked = len(server.seen)
    with pytest.raises(ListenBrainzError, match="HTTP 400: min_ts should be less than max_ts"):
        client.get_json("/1/user/carol/listens", {"min_ts": 9, "max_ts": 9})
    with pytest.raises(ListenBrainzError, match="HTTP 400"):
        client.get_json("/1/user/carol/listens", {"count": -1})
    assert len(server.seen) == asked + 2  # a 400 is not retried


def test_token_validation_and_the_token_stays_secret(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    assert client.validate_token(TOKEN) == "alice"
    assert server.seen[-1].headers["authorization"] == f"Token {TOKEN}"
    with pytest.raises(InvalidToken, match="rejected the token") as invalid:
        client.validate_token("not-" + TOKEN)
    with pytest.raises(InvalidToken, match="no ListenBrainz token"):
        client.validate_token("  ")
    assert len(server.requests_to("validate-token")) == 2
    assert TOKEN not in caplog.text and TOKEN not in str(invalid.value) and TOKEN not in repr(client)
    assert TOKEN not in str(client.__dict__)


def test_listen_count_and_unknown_users(server, client):
    assert client.listen_count("alice") == 30
    for call in (lambda: client.listen_count("nobody"), lambda: client.get_listens("nobody")):
        with pytest.raises(UserNotFound, match="Cannot find user: nobody"):
            call()
    assert len(server.requests_to("nobody")) == 2  # a 404 is not retried


def test_user_agent_names_the_contact(server, clock, monkeypatch):
    monkeypatch.delenv("MUSICBRAINZ_CONTACT", raising=False)
    monkeypatch.setenv("SIDETRACK_CONTACT", "ops@example.org")
    with make_client(server, clock) as lb:
        lb.listen_count("alice")
    monkeypatch.setenv("MUSICBRAINZ_CONTACT", "me@example.org")
    with make_client(server, clock) as lb:
        lb.listen_count("alice")
    assert [s.headers["user-agent"] for s in server.seen] == [
        f"SideTrack/{__version__} ( ops@example.org )", f"SideTrack/{__version__} ( me@example.org )"]


def test_a_used_up_rate_limit_is_waited_out_before_the_next_request(clock, recordings):
    with FakeListenBrainz(clock=clock, rate_limit=3, rate_window_s=10) as server:
        server.add_user("alice", [listen_json(START, recordings[0], "alice")])
        with make_client(server, clock) as lb:
            for _ in range(7):
                lb.get_listens("alice")
        assert [s.status for s in server.seen] == [200] * 7  # never a 429
        assert clock.waits == [10.0, 10.0]  # Reset-In, each time Remaining reached 0


def test_429_waits_for_reset_in_then_succeeds(server, client, clock):
    server.inject("429", reset_in=7)
    assert len(client.get_listens("alice")) == 30
    assert [s.status for s in server.seen] == [429, 200]
    [wait] = clock.waits
    assert 7.0 <= wait <= 7.5  # Reset-In plus a little jitter


def test_server_errors_are_retried_with_bounded_jittered_backoff(server, client, clock):
    server.inject("503", times=2)
    assert len(client.get_listens("alice")) == 30
    assert [s.status for s in server.seen] == [503, 503, 200]
    assert len(clock.sleeps) == 2 and all(0 <= s <= 2 for s in clock.sleeps)

    server.inject("503", times=100)
    with pytest.raises(ListenBrainzUnavailable, match="gave up after 4 attempts; last error: HTTP 503"):
        client.get_listens("alice")
    assert len(server.seen) == 3 + 4


def test_many_backoffs_are_jittered_not_fixed(server, clock):
    server.inject("500", times=1000, path="/listen-count")
    with make_client(server, clock, attempts=25) as lb, pytest.raises(ListenBrainzUnavailable):
        lb.listen_count("alice")
    assert len(clock.sleeps) == 24 and max(clock.sleeps) <= 2
    assert len(set(clock.sleeps)) > 12  # random, so retries from many clients do not line up


def test_truncated_json_is_retried_then_reported(server, client):
    server.inject("truncated")
    assert len(client.get_listens("alice")) == 30
    server.inject("truncated", times=100)
    with pytest.raises(ListenBrainzUnavailable, match="truncated or broken"):
        client.get_listens("alice")
    assert len(server.seen) == 2 + 4


def test_a_connection_cut_mid_answer_is_retried(server, client):
    server.inject("cut")
    assert len(client.get_listens("alice")) == 30
    assert len(server.seen) == 2


def test_a_timeout_is_retried_then_reported(server, clock):
    server.inject("slow")  # answers only when the server stops: longer than any timeout
    with make_client(server, clock, attempts=2, timeout_s=0.5) as lb:
        assert len(lb.get_listens("alice")) == 30
        server.inject("slow", times=2)
        with pytest.raises(ListenBrainzUnavailable, match="timed out"):
            lb.get_listens("alice")
    assert len(server.seen) == 4


@pytest.mark.parametrize("body, message", [
    ({"payload": {"count": 0}}, "no payload.listens"),
    ([], "no payload.listens"),
    ({"payload": {"listens": [{"track_metadata": {}}]}}, "no integer listened_at"),
    ({"payload": {"listens": [{"listened_at": "1500000000"}]}}, "no integer listened_at"),
    ({"payload": {"listens": [{"listened_at": START}, {"listened_at": START + 1}]}}, "newest first"),
])
def test_a_malformed_listens_answer_is_an_error(body, message):
    with pytest.raises(ListenBrainzError, match=message):
        parse_listens_page(body)
