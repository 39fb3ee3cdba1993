"""The Last.fm client against a fake Last.fm on 127.0.0.1 speaking the real JSON formats."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sidetrack_pipeline.sources.lastfm import (LastfmError, LastfmKeyError, LastfmNotFound,
                                               LastfmPrivateProfile, LastfmUnavailable, TopTag,
                                               parse_recent_track)
from tests.fake_lastfm import API_KEY, FAST_RETRY, Scrobble, client_for

pytest_plugins = ["tests.lastfm_fixtures"]  # fake_lastfm

TAME = "63aa26c3-d59b-4da4-84ac-716b54f1ef4d"
LONERISM = "0d2cb66c-3a32-4f81-b977-9231c461c34a"
FEELS = "1587517a-9b2b-385a-b044-673fddf88004"


@pytest.fixture
def client(fake_lastfm, tmp_path):
    with client_for(fake_lastfm, tmp_path / "ratelimit") as client:
        yield client


def test_recent_tracks_parses_strings_and_empty_mbids(fake_lastfm, client):
    fake_lastfm.add("frikandel_",
                    Scrobble(1603188238, "Tame Impala", "Feels Like We Only Go Backwards", "Lonerism",
                             mbid=FEELS, artist_mbid=TAME, album_mbid=LONERISM),
                    Scrobble(1603186824, "Tame Impala", "Endors Toi", "Lonerism"))
    page = client.recent_tracks("frikandel_", page=1, limit=200)

    assert (page.page, page.total_pages, page.total) == (1, 1, 2)  # sent as "1", "1", "2"
    newest, older = page.listens
    assert newest.played_at == datetime(2020, 10, 20, 10, 3, 58, tzinfo=timezone.utc)
    assert (newest.artist_name, newest.track_name, newest.release_name) == (
        "Tame Impala", "Feels Like We Only Go Backwards", "Lonerism")
    assert (newest.recording_mbid, newest.artist_mbid, newest.release_mbid) == (FEELS, TAME, LONERISM)
    assert (older.recording_mbid, older.artist_mbid, older.release_mbid) == (None, None, None)

    params = fake_lastfm.calls("user.getRecentTracks")[0]
    assert params == {"method": "user.getRecentTracks", "user": "frikandel_", "page": "1",
                      "limit": "200", "api_key": API_KEY, "format": "json"}
    assert fake_lastfm.headers[0]["User-Agent"].startswith("SideTrack/")


def test_now_playing_is_skipped_even_inside_a_from_to_window(fake_lastfm, client):
    fake_lastfm.add("rj", Scrobble(1311261170, "Johnny Cash", "Ring of Fire", "The Best Of"),
                    Scrobble(1311260000, "Johnny Cash", "Hurt"))  # before the window
    fake_lastfm.now_playing["rj"] = Scrobble(0, "Crazy Frog", "Axel F")
    page = client.recent_tracks("rj", page=1, limit=11, from_ts=1311261000, to_ts=1311261300)

    assert [l.track_name for l in page.listens] == ["Ring of Fire"]
    assert page.now_playing == 1
    params = fake_lastfm.calls()[0]
    assert (params["from"], params["to"]) == ("1311261000", "1311261300")


def test_a_single_object_track_is_accepted(fake_lastfm, client):
    fake_lastfm.single_object = True
    fake_lastfm.add("libre", Scrobble(1700000000, "Björk", "Hyperballad"))
    page = client.recent_tracks("libre")
    assert [(l.artist_name, l.track_name) for l in page.listens] == [("Björk", "Hyperballad")]


def test_extended_artist_shape_and_bad_entries():
    # extended=1 names the artist with "name" instead of "#text".
    listen = parse_recent_track({"artist": {"name": "Tame Impala", "mbid": ""}, "name": "Endors Toi",
                                 "mbid": "", "album": {"#text": "", "mbid": ""},
                                 "date": {"uts": "1603186824", "#text": "20 Oct 2020, 09:40"}})
    assert (listen.artist_name, listen.release_name) == ("Tame Impala", None)
    for entry, reason in [({"artist": {"#text": "A"}, "name": "T"}, "no date"),
                          ({"artist": {"#text": "A"}, "name": "T", "date": {"uts": "soon"}}, "not a number"),
                          ({"artist": {"#text": "A"}, "name": "T", "date": {"uts": "12"}}, "plausible"),
                          ({"artist": {"#text": ""}, "name": "T", "date": {"uts": "1603186824"}}, "artist")]:
        with pytest.raises(ValueError, match=reason):
            parse_recent_track(entry)


def test_an_unusable_entry_is_set_aside_and_the_rest_kept(fake_lastfm, client):
    fake_lastfm.add("u", Scrobble(1700000100, "A", "Good one"), Scrobble(12, "B", "Epoch twelve"))
    page = client.recent_tracks("u")
    assert [l.track_name for l in page.listens] == ["Good one"]
    assert len(page.rejected) == 1 and "Epoch twelve" in page.rejected[0]


def test_error_29_inside_http_200_is_retried_then_succeeds(fake_lastfm, client):
    fake_lastfm.add("u", Scrobble(1700000000, "A", "T"))
    fake_lastfm.fail(200, error=29, times=2)
    page = client.recent_tracks("u")
    assert len(page.listens) == 1
    assert len(fake_lastfm.calls()) == 3


@pytest.mark.parametrize("code", [8, 11, 16])
def test_temporary_errors_are_retried(fake_lastfm, client, code):
    fake_lastfm.add("u", Scrobble(1700000000, "A", "T"))
    fake_lastfm.fail(200, error=code)
    assert len(client.recent_tracks("u").listens) == 1
    assert len(fake_lastfm.calls()) == 2


def test_503_is_retried_a_bounded_number_of_times(fake_lastfm, client):
    fake_lastfm.add("u", Scrobble(1700000000, "A", "T"))
    fake_lastfm.fail(503, "<html><body>503 Service Unavailable</body></html>")
    assert len(client.recent_tracks("u").listens) == 1
    assert len(fake_lastfm.calls()) == 2

    fake_lastfm.fail(503, "<html>busy</html>", times=None)
    with pytest.raises(LastfmUnavailable, match="HTTP 503"):
        client.recent_tracks("u")
    assert len(fake_lastfm.calls()) == 2 + FAST_RETRY.attempts


def test_a_timeout_is_retried(fake_lastfm, tmp_path):
    fake_lastfm.add("u", Scrobble(1700000000, "A", "T"))
    fake_lastfm.fail(200, '{"recenttracks": {"track": []}}', hang_s=30)
    with client_for(fake_lastfm, tmp_path, timeout_s=0.5) as client:
        assert len(client.recent_tracks("u").listens) == 1
    assert len(fake_lastfm.calls()) == 2


def test_user_not_found_is_not_retried(fake_lastfm, client):
    with pytest.raises(LastfmNotFound, match="User not found") as caught:
        client.recent_tracks("nobody")
    assert caught.value.code == 6
    assert len(fake_lastfm.calls()) == 1


def test_private_profile_is_a_clear_error_not_retried(fake_lastfm, client):
    fake_lastfm.add("hidden", Scrobble(1700000000, "A", "T"))
    fake_lastfm.private_users.add("hidden")
    with pytest.raises(LastfmPrivateProfile, match="error 17"):
        client.recent_tracks("hidden")
    assert len(fake_lastfm.calls()) == 1


@pytest.mark.parametrize("code", [10, 26])
def test_invalid_or_suspended_key_is_not_retried(fake_lastfm, client, code):
    fake_lastfm.fail(403, error=code)
    with pytest.raises(LastfmKeyError) as caught:
        client.artist_top_tags("Audioslave")
    assert caught.value.code == code
    assert API_KEY not in str(caught.value)
    assert len(fake_lastfm.calls()) == 1


def test_a_wrong_key_is_refused_by_the_server(fake_lastfm, tmp_path):
    with client_for(fake_lastfm, tmp_path, api_key="not-the-key") as client:
        with pytest.raises(LastfmKeyError, match="Invalid API key"):
            client.recent_tracks("u")
    with pytest.raises(LastfmKeyError, match="LASTFM_API_KEY"):
        client_for(fake_lastfm, tmp_path, api_key=" ")


def test_an_unknown_error_code_is_not_retried(fake_lastfm, client):
    fake_lastfm.fail(400, '{"error": 3, "message": "Invalid Method"}')
    with pytest.raises(LastfmError, match="error 3") as caught:
        client.artist_top_tags("X")
    assert not isinstance(caught.value, LastfmUnavailable)
    assert len(fake_lastfm.calls()) == 1


def test_top_tags(fake_lastfm, client):
    fake_lastfm.artist_tags["audioslave"] = [("rock", 100), ("alternative rock", 78), ("Grunge", 41)]
    fake_lastfm.track_tags[("ac/dc", "hells bells")] = [("hard rock", 100), ("80s", 14)]

    assert client.artist_top_tags("Audioslave") == [
        TopTag("rock", 100), TopTag("alternative rock", 78), TopTag("Grunge", 41)]
    assert client.track_top_tags("AC/DC", "Hells Bells") == [TopTag("hard rock", 100), TopTag("80s", 14)]
    assert client.track_top_tags("Metallica", "Hells Bells") == []  # unknown track: 200 + []
    with pytest.raises(LastfmNotFound):
        client.artist_top_tags("No Such Artist")                   # unknown artist: 200 + error 6
    track_call = fake_lastfm.calls("track.getTopTags")[0]
    assert (track_call["artist"], track_call["track"]) == ("AC/DC", "Hells Bells")


def test_page_arguments_are_checked_before_any_request(fake_lastfm, client):
    with pytest.raises(ValueError, match="limit"):
        client.recent_tracks("u", limit=201)
    with pytest.raises(ValueError, match="page"):
        client.recent_tracks("u", page=0)
    assert fake_lastfm.calls() == []
