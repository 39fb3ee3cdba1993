"""Users and settings: tokens stored encrypted with SIDETRACK_SECRET_KEY, never shown or logged."""

from __future__ import annotations

import logging

import psycopg2
import pytest
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app
from sidetrack_pipeline.users import (
    SECRET_KEY_ENV, Secret, SecretKeyError, generate_key, get_user, list_users, set_user)

TOKEN = "3f1c2b9e-5d7a-4c1e-9a0b-8e6f4d2c1a7b"


def test_token_is_stored_encrypted_and_reads_back_with_the_key(db_url, monkeypatch):
    key = generate_key()
    monkeypatch.setenv(SECRET_KEY_ENV, key)
    with psycopg2.connect(db_url) as conn:
        user = set_user(conn, "alice", timezone="Europe/Berlin", listenbrainz_user="alice_lb",
                        listenbrainz_token=Secret(TOKEN), lastfm_user="alice_fm")
        assert (user.listenbrainz_user, user.lastfm_user, user.timezone) == (
            "alice_lb", "alice_fm", "Europe/Berlin")
        assert user.has_listenbrainz_token
        with conn.cursor() as cur:
            cur.execute("select listenbrainz_token from user_settings where user_id = %s",
                        (user.user_id,))
            stored = bytes(cur.fetchone()[0])
            cur.execute("select count(*) from user_settings where listenbrainz_token::text like %s "
                        "or settings::text like %s", (f"%{TOKEN[:8]}%", f"%{TOKEN[:8]}%"))
            assert cur.fetchone()[0] == 0
        assert TOKEN.encode() not in stored
        assert user.listenbrainz_token(conn).reveal() == TOKEN

        # Another key cannot read it; no key is a clear error too.
        with pytest.raises(SecretKeyError, match="another key"):
            user.listenbrainz_token(conn, key=generate_key())
        monkeypatch.delenv(SECRET_KEY_ENV)
        with pytest.raises(SecretKeyError, match="sidetrack users keygen"):
            user.listenbrainz_token(conn)
        with pytest.raises(SecretKeyError):
            set_user(conn, "bob", listenbrainz_token=Secret("x"))


def test_only_given_settings_change_and_none_clears(db_url, monkeypatch):
    monkeypatch.setenv(SECRET_KEY_ENV, generate_key())
    with psycopg2.connect(db_url) as conn:
        set_user(conn, "carol", listenbrainz_user="c_lb", lastfm_user="c_fm",
                 listenbrainz_token=Secret(TOKEN))
        user = set_user(conn, "carol", lastfm_user="c_fm2")
        assert (user.listenbrainz_user, user.lastfm_user, user.has_listenbrainz_token) == (
            "c_lb", "c_fm2", True)
        user = set_user(conn, "carol", listenbrainz_token=None, listenbrainz_user=None)
        assert (user.listenbrainz_user, user.has_listenbrainz_token) == (None, False)
        assert user.listenbrainz_token(conn) is None
        with pytest.raises(ValueError, match="time zone"):
            set_user(conn, "carol", timezone="Mars/Olympus")
        with pytest.raises(LookupError, match="nobody"):
            get_user(conn, "nobody")
        assert [u.user_name for u in list_users(conn)] == ["carol"]


def test_secret_never_prints():
    secret = Secret(TOKEN)
    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and TOKEN not in f"{secret}"
    assert TOKEN not in repr({"token": secret})


def test_cli_reads_token_from_stdin_and_never_shows_it(sidetrack_env, monkeypatch, caplog):
    monkeypatch.setenv(SECRET_KEY_ENV, generate_key())
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    result = runner.invoke(app, ["users", "set", "dave", "--listenbrainz-user", "dave_lb",
                                 "--timezone", "Asia/Tokyo", "--listenbrainz-token"],
                           input=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    assert "token stored, encrypted" in result.output and TOKEN not in result.output
    listed = runner.invoke(app, ["users", "list"])
    assert "dave: timezone Asia/Tokyo, listenbrainz dave_lb" in listed.output
    assert TOKEN not in listed.output and TOKEN not in caplog.text

    monkeypatch.delenv(SECRET_KEY_ENV)
    failed = runner.invoke(app, ["users", "set", "dave", "--listenbrainz-token"], input="x\n")
    assert failed.exit_code == 2 and "SIDETRACK_SECRET_KEY is not set" in failed.output

    key_line = runner.invoke(app, ["users", "keygen"]).output.strip()
    assert key_line.startswith(f"{SECRET_KEY_ENV}=") and len(key_line.split("=", 1)[1]) == 44
