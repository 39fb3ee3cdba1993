"""The Settings page: a ListenBrainz token is checked against ListenBrainz (a local fake on
127.0.0.1 speaking the real /1/validate-token), stored only encrypted, and never rendered back —
not the stored one, not a rejected one, not a freshly saved one. The other settings are saved for
the signed-in user only."""

from __future__ import annotations

import itertools
import socket

import psycopg2
import pytest

from dashboard.pages import PAGES
from sidetrack_pipeline.users import decrypt
from tests.dashboard_fixtures import ANA, ANA_TOKEN, BOB, open_page, problems, rendered_text, signed_in
from tests.fake_listenbrainz import FakeListenBrainz

pytest_plugins = ["tests.dashboard_fixtures"]

GOOD_TOKEN = "carol-valid-token-0b9e44a1c7d3"
BAD_TOKEN = "carol-wrong-token-77aa21fe"
_n = itertools.count()


def one(url: str, sql: str, *params):
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()
    finally:
        conn.close()


@pytest.fixture
def listenbrainz(monkeypatch):
    with FakeListenBrainz() as server:
        server.add_user("carol_lb", token=GOOD_TOKEN)
        monkeypatch.setenv("LISTENBRAINZ_BASE_URL", server.url)
        yield server


@pytest.fixture
def carol(demo_env) -> str:
    """A new signed-in user per test (so one test's saved token is not another's starting point)."""
    return f"carol{next(_n)}@example.com"


def settings_page(email: str):
    at = open_page(signed_in(email), "settings.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def submit_token(at, token: str):
    [w for w in at.text_input if w.label == "User token"][0].set_value(token)
    [b for b in at.button if b.label == "Validate and save"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def stored(url: str, email: str):
    return one(url, """select s.listenbrainz_user, s.listenbrainz_token from users u
                       join user_settings s using (user_id) where u.user_name = %s""", email)


def test_a_stored_token_is_never_rendered_on_any_page(demo_env):
    at = signed_in(ANA)
    for _, _, page_file, _ in PAGES:
        open_page(at, page_file)
        assert not at.exception
        assert ANA_TOKEN not in rendered_text(at), page_file
    open_page(at, "settings.py")
    assert "a token is stored (encrypted, hidden)" in rendered_text(at)
    assert [w.value for w in at.text_input if w.label == "User token"] == [""]
    _, ciphertext = stored(demo_env.url, ANA)
    assert ANA_TOKEN.encode() not in bytes(ciphertext)  # encrypted at rest
    assert decrypt(bytes(ciphertext), demo_env.key).reveal() == ANA_TOKEN


def test_a_bad_token_is_rejected_with_a_clear_message(demo_env, listenbrainz, carol):
    at = submit_token(settings_page(carol), BAD_TOKEN)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "ListenBrainz rejected this token" in errors[0]
    assert not at.success
    assert BAD_TOKEN not in rendered_text(at)  # the field was emptied, the message does not echo it
    assert [w.value for w in at.text_input if w.label == "User token"] == [""]
    assert stored(demo_env.url, carol) == (None, None)
    (seen,) = listenbrainz.requests_to("validate-token")
    assert seen.headers["authorization"] == f"Token {BAD_TOKEN}"  # checked with ListenBrainz itself


def test_a_good_token_is_validated_stored_encrypted_and_never_shown(demo_env, listenbrainz, carol):
    at = submit_token(settings_page(carol), GOOD_TOKEN)
    assert not problems(at)
    assert any("Connected to ListenBrainz as **carol_lb**" in s.value for s in at.success)
    assert GOOD_TOKEN not in rendered_text(at)
    lb_user, ciphertext = stored(demo_env.url, carol)
    assert lb_user == "carol_lb"
    assert GOOD_TOKEN.encode() not in bytes(ciphertext)
    assert decrypt(bytes(ciphertext), demo_env.key).reveal() == GOOD_TOKEN
    again = settings_page(carol)  # a new session: the page says a token is stored, never which
    text = rendered_text(again)
    assert "Connected as **carol_lb**" in text and GOOD_TOKEN not in text

    [b for b in again.button if b.label == "Remove stored token"][0].click().run()
    assert stored(demo_env.url, carol) == ("carol_lb", None)
    assert "Not connected" in rendered_text(again)


def test_listenbrainz_unreachable_saves_nothing(demo_env, carol, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LISTENBRAINZ_BASE_URL", f"http://127.0.0.1:{port}")
    at = submit_token(settings_page(carol), GOOD_TOKEN)
    assert any("could not be reached" in e.value for e in at.error)
    assert stored(demo_env.url, carol) == (None, None)
    assert GOOD_TOKEN not in rendered_text(at)


def test_without_the_secret_key_a_valid_token_is_not_stored(demo_env, listenbrainz, carol, monkeypatch):
    monkeypatch.delenv("SIDETRACK_SECRET_KEY")
    at = submit_token(settings_page(carol), GOOD_TOKEN)
    assert any("SIDETRACK_SECRET_KEY" in e.value for e in at.error)
    assert stored(demo_env.url, carol) == (None, None)
    assert GOOD_TOKEN not in rendered_text(at)


def test_an_empty_token_asks_for_one(demo_env, listenbrainz, carol):
    at = submit_token(settings_page(carol), "   ")
    assert any("Paste your ListenBrainz user token" in w.value for w in at.warning)
    assert listenbrainz.requests_to("validate-token") == []


def test_lastfm_user_and_time_zone_are_saved_for_this_user(demo_env, carol):
    at = settings_page(carol)
    [w for w in at.text_input if w.label == "Last.fm user name"][0].set_value("carol_fm")
    [b for b in at.button if b.label == "Save Last.fm user"][0].click().run()
    assert one(demo_env.url, """select s.lastfm_user from users u join user_settings s using (user_id)
                                where u.user_name = %s""", carol) == ("carol_fm",)

    # The analysis switches and the lexicon are the server's, not a signed-in user's: read-only here.
    switches = [t for t in at.toggle if t.label.startswith(("Use the GPU", "Measure pumpiness", "Analyse 30"))]
    assert len(switches) == 3 and all(t.disabled for t in switches)
    assert [w for w in at.text_input if w.label.startswith("Extra words")][0].disabled

    [s for s in at.selectbox if s.label.startswith("Your time zone")][0].set_value("Asia/Tokyo")
    [b for b in at.button if b.label == "Save settings"][0].click().run()
    assert not problems(at)
    assert one(demo_env.url, "select timezone from users where user_name = %s", carol) == ("Asia/Tokyo",)
    assert not (demo_env.home / "preferences.json").exists()
    # nobody else's settings moved
    assert one(demo_env.url, "select timezone from users where user_name = %s", BOB) == ("America/New_York",)


def test_local_mode_switches_drive_the_pipeline_settings(demo_env, monkeypatch):
    """In local mode the owner's switches land in $SIDETRACK_HOME/preferences.json, which the
    pipeline's settings and lexicon read; a variable in the environment wins and locks its switch."""
    from sidetrack_pipeline.scoring.lexicon import load_lexicon
    from sidetrack_pipeline.settings import get_settings
    from tests.dashboard_fixtures import local_mode

    for name in ("TORCH_DEVICE", "USE_DEMUCS", "EXCERPT_SECONDS", "LEXICON_EXTRA_WORDS", "LEXICON_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIDETRACK_DASHBOARD_USER", ANA)
    prefs = demo_env.home / "preferences.json"
    try:
        at = open_page(local_mode(), "settings.py")
        [t for t in at.toggle if t.label.startswith("Use the GPU")][0].set_value(False)
        [t for t in at.toggle if t.label.startswith("Measure pumpiness on Demucs stems")][0].set_value(True)
        [t for t in at.toggle if t.label.startswith("Analyse 30-second excerpts")][0].set_value(True)
        [w for w in at.text_input if w.label.startswith("Extra words")][0].set_value("Dreamy,  late night ")
        [b for b in at.button if b.label == "Save settings"][0].click().run()
        assert not problems(at)
        s = get_settings()
        assert (s.torch_device, s.use_demucs, s.excerpt_seconds) == ("cpu", True, 30.0)
        assert {"dreamy", "late night"} <= set(load_lexicon().words)

        # A bad word is refused and nothing changes.
        [w for w in at.text_input if w.label.startswith("Extra words")][0].set_value("ok, 9lives!")
        [b for b in at.button if b.label == "Save settings"][0].click().run()
        assert any("Not saved" in e.value for e in at.error)
        assert "ok" not in load_lexicon().words

        # The server's environment wins, and the page shows that switch locked.
        monkeypatch.setenv("TORCH_DEVICE", "auto")
        assert get_settings().torch_device == "auto"
        at = open_page(local_mode(), "settings.py")
        assert [t for t in at.toggle if t.label.startswith("Use the GPU")][0].disabled
        assert not [t for t in at.toggle if t.label.startswith("Measure pumpiness")][0].disabled
    finally:
        prefs.unlink(missing_ok=True)
