"""Importing exports into the real database: counts, idempotency, rejects, atomicity."""

from __future__ import annotations

import psycopg2
import pytest
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app
from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.listens import import_listenbrainz_export
from tests.export_builder import listen_line, write_export_zip

MBID = "c7d0bf6e-b2aa-4ffa-bded-2448415b39b0"


def _counts(url):
    with connect(url) as conn, conn.cursor() as cur:
        out = {}
        for table in ("users", "artist", "release", "track", "listen", "listen_import", "listen_reject"):
            cur.execute(f"select count(*) from {table}")
            out[table] = cur.fetchone()[0]
        return out


def _export(tmp_path):
    return write_export_zip(tmp_path / "export.zip", {
        (2023, 11): [
            listen_line(1700000000.25, recording_mbid=MBID),
            listen_line(1700000000.75, recording_mbid=MBID),      # same second, same track: one play
            listen_line(1700000300, artist="Aphex Twin", title="Xtal", release="SAW 85-92"),
            '{"listened_at": 1700000400, "track_metadata": {"artist_name": "broken',
            listen_line("noon"),
            listen_line(1700000500, artist="Aphex Twin", title="Ageispolis", release="SAW 85-92"),
        ],
        (2023, 12): [listen_line(1701400000, artist="Aphex Twin", title="Xtal", release="SAW 85-92")],
    })


def test_import_counts_and_is_idempotent(db_url, tmp_path):
    export = _export(tmp_path)
    with connect(db_url) as conn:
        first = import_listenbrainz_export(conn, "alice", export, timezone="Europe/Berlin")
    assert (first.read, first.inserted, first.duplicates, len(first.rejected)) == (7, 4, 1, 2)
    assert [(r.file, r.line_no) for r in first.rejected] == [("listens/2023/11.jsonl", 4), ("listens/2023/11.jsonl", 5)]
    after_first = _counts(db_url)
    assert after_first["listen"] == 4 and after_first["track"] == 3 and after_first["artist"] == 2
    assert after_first["release"] == 2 and after_first["listen_reject"] == 2

    with connect(db_url) as conn:
        second = import_listenbrainz_export(conn, "alice", export)
    assert (second.inserted, second.duplicates) == (0, 5)
    after_second = _counts(db_url)
    assert after_second == after_first   # the same export keeps one import row and its rejects once
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select timezone from users where user_name = 'alice'")
        assert cur.fetchone()[0] == "Europe/Berlin"   # kept when not given again


def test_failed_import_leaves_nothing_half_written(db_url, tmp_path):
    export = _export(tmp_path)
    before = _counts(db_url)
    with pytest.raises(psycopg2.errors.RaiseException):
        with connect(db_url) as conn:
            import_listenbrainz_export(conn, "alice", export)
            with conn.cursor() as cur:   # the process dies after the inserts, before commit
                cur.execute("do $$ begin raise exception 'killed'; end $$")
    assert _counts(db_url) == before


def test_unknown_time_zone_is_refused(db_url, tmp_path):
    with pytest.raises(ValueError, match="unknown time zone"):
        with connect(db_url) as conn:
            import_listenbrainz_export(conn, "alice", _export(tmp_path), timezone="Mars/Olympus")


def test_cli_reports_counts_and_rejected_lines(sidetrack_env, tmp_path):
    export = _export(tmp_path)
    result = CliRunner().invoke(app, ["import-listens", "--user", "bob", str(export)])
    assert result.exit_code == 0, result.output
    assert "inserted:   4" in result.output and "rejected:   2" in result.output
    assert "listens/2023/11.jsonl:4: broken JSON" in result.output
    assert "listens/2023/11.jsonl:5: listened_at is not a number ('noon')" in result.output
    again = CliRunner().invoke(app, ["import-listens", "--user", "bob", str(export)])
    assert "inserted:   0" in again.output and "duplicates: 5 (skipped)" in again.output
