"""The source commands end to end: `sync`, `import-lastfm`, `resolve`, `scan`, `import-beets`
against local fake services, a real database and real tagged files."""

from __future__ import annotations

import shutil

import psycopg2
import pytest
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app
from sidetrack_pipeline.users import SECRET_KEY_ENV, Secret, generate_key, set_user
from tests import fake_musicbrainz as mb
from tests.fake_lastfm import Scrobble
from tests.fake_listenbrainz import FakeListenBrainz, listen_json, make_recordings
from tests.library_builder import listen_history, make_audio, tag_like_picard
from tests.test_beets_import import _beets_library

pytest_plugins = ["tests.lastfm_fixtures"]  # fake_lastfm

START = 1_700_000_000
TOKEN = "b0c3e1f2-0000-4000-8000-feedfacecafe"


def _count(db_url, sql, args=()):
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_sync_fetches_both_sources_then_nothing_new(db_url, sidetrack_env, fake_lastfm, monkeypatch):
    monkeypatch.setenv(SECRET_KEY_ENV, generate_key())
    monkeypatch.setenv("LASTFM_API_KEY", fake_lastfm.api_key)
    monkeypatch.setenv("LASTFM_BASE_URL", fake_lastfm.url)
    recordings = make_recordings(30)
    with FakeListenBrainz() as lb:
        monkeypatch.setenv("LISTENBRAINZ_BASE_URL", lb.url)
        lb.add_user("ann_lb", [listen_json(START + 240 * i, recordings[i % 30], "ann_lb")
                               for i in range(1500)], token=TOKEN)
        for i in range(5):
            fake_lastfm.add("ann_fm", Scrobble(START + 240 * 3000 + 200 * i, "Lastfm Only", f"Song {i}"))
        with psycopg2.connect(db_url) as conn:
            set_user(conn, "ann", listenbrainz_user="ann_lb", lastfm_user="ann_fm",
                     listenbrainz_token=Secret(TOKEN))
        runner = CliRunner()
        first = runner.invoke(app, ["sync", "--user", "ann"])
        assert first.exit_code == 0, first.output
        assert "ListenBrainz ann_lb -> ann" in first.output and "inserted 1500" in first.output
        assert "Last.fm ann_fm -> ann" in first.output and "inserted 5" in first.output
        assert TOKEN not in first.output
        second = runner.invoke(app, ["sync", "--user", "ann"])
        assert second.exit_code == 0, second.output
        assert second.output.count("inserted 0") == 2
        # submitted late with an old timestamp: incremental syncs look forward only, a full resync finds it
        lb.add_listens("ann_lb", [listen_json(START + 240 * 10 + 7, recordings[3], "ann_lb")])
        assert "inserted 0" in runner.invoke(app, ["sync", "--user", "ann"]).output
        resync = runner.invoke(app, ["sync", "--user", "ann", "--full-resync"])
        assert resync.exit_code == 0, resync.output
        assert "inserted 1" in resync.output and "duplicates 1500" in resync.output
    assert _count(db_url, "select count(*) from listen") == 1506


def test_sync_and_import_lastfm_say_what_is_missing(db_url, sidetrack_env, monkeypatch):
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    with psycopg2.connect(db_url) as conn:
        set_user(conn, "bo")
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "--user", "bo"])
    assert result.exit_code == 2 and "no ListenBrainz or Last.fm account" in result.output
    result = runner.invoke(app, ["sync", "--user", "nobody"])
    assert result.exit_code == 2 and "no SideTrack user 'nobody'" in result.output
    result = runner.invoke(app, ["import-lastfm", "--user", "bo", "--lastfm-user", "x"])
    assert result.exit_code == 2 and "LASTFM_API_KEY" in result.output


def test_import_lastfm_window(db_url, sidetrack_env, fake_lastfm, monkeypatch):
    monkeypatch.setenv("LASTFM_API_KEY", fake_lastfm.api_key)
    monkeypatch.setenv("LASTFM_BASE_URL", fake_lastfm.url)
    for i in range(10):
        fake_lastfm.add("cy_fm", Scrobble(START + 86400 * i, "Artist", f"Day {i}"))
    result = CliRunner().invoke(app, ["import-lastfm", "--user", "cy", "--lastfm-user", "cy_fm",
                                      "--from", str(START + 86400 * 2 + 1), "--to", "2023-11-22T00:00:00"])
    assert result.exit_code == 0, result.output
    # 2023-11-22T00:00Z = START + 7.07 days: days 3 to 7 fall inside the window
    assert "inserted 5" in result.output
    assert _count(db_url, "select count(*) from listen") == 5


def test_resolve_uses_musicbrainz_once(db_url, sidetrack_env, monkeypatch):
    with mb.FakeMusicBrainz() as server:
        monkeypatch.setenv("MUSICBRAINZ_BASE_URL", server.base_url)
        monkeypatch.setenv("MUSICBRAINZ_CONTACT", "cli-test@sidetrack.invalid")
        band = mb.artist("Autechre")
        rec = server.add_recording(mb.recording("Gantz Graf", length=236000, credits=mb.credit(band),
                                                releases=[mb.release("Gantz Graf EP", credits=mb.credit(band))]))
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            listen_history(cur, "dee", [{"artist": "Autechre", "title": "Gantz Graf",
                                         "recording_mbid": rec["id"], "count": 3}])
        runner = CliRunner()
        result = runner.invoke(app, ["resolve"])
        assert result.exit_code == 0, result.output
        assert "resolved 1" in result.output and "graph edges:" in result.output
        asked = len(server.requests)
        assert runner.invoke(app, ["resolve"]).exit_code == 0
        assert len(server.requests) == asked  # nothing pending, nothing asked
        monkeypatch.delenv("MUSICBRAINZ_CONTACT")
        monkeypatch.setenv("SIDETRACK_CONTACT", "")
        refused = runner.invoke(app, ["resolve"])
        assert refused.exit_code == 2 and "MUSICBRAINZ_CONTACT" in refused.output


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
def test_scan_and_import_beets_report_the_match_rate(db_url, sidetrack_env, tmp_path):
    music = tmp_path / "music"
    rec = "1e7c0a3b-5f4d-4c39-9d59-2d0c3f9d3a11"
    tag_like_picard(make_audio(music / "a" / "tagged.flac"), artist="Burial", title="Archangel",
                    recording=rec)
    untagged = make_audio(music / "b" / "untitled.mp3")
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        listen_history(cur, "eve", [
            {"artist": "Burial", "title": "Archangel", "recording_mbid": rec, "count": 5},
            {"artist": "Four Tet", "title": "Angel Echoes", "count": 3},
            {"artist": "Missing Artist", "title": "Never Downloaded", "count": 2}])
    runner = CliRunner()
    result = runner.invoke(app, ["scan", "--root", str(music), "--user", "eve"])
    assert result.exit_code == 0, result.output
    assert "2 files" in result.output
    assert "1/3 listened tracks" in result.output and "5/10 listens" in result.output
    assert "Four Tet - Angel Echoes" in result.output

    # beets knows what the untagged file is: after the import it matches too
    beets_db = _beets_library(tmp_path / "library.db", [
        {"path": str(untagged), "artist": "Four Tet", "title": "Angel Echoes"}])
    imported = runner.invoke(app, ["import-beets", str(beets_db)])
    assert imported.exit_code == 0, imported.output
    assert "1 items; 1 files take identifiers from beets" in imported.output
    again = runner.invoke(app, ["scan", "--root", str(music), "--user", "eve"])
    assert "2/3 listened tracks" in again.output and "8/10 listens" in again.output
    assert "Missing Artist - Never Downloaded" in again.output
