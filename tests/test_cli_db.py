"""`sidetrack db url` starts the embedded server on demand; `sidetrack db stop` stops it."""

from __future__ import annotations

import psycopg2
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app


def test_db_url_starts_embedded_server_and_stop_stops_it(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SIDETRACK_HOME", str(home))
    monkeypatch.delenv("SIDETRACK_DATABASE_URL", raising=False)
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["db", "url"])
        assert result.exit_code == 0, result.output
        url = result.output.strip().splitlines()[-1]
        assert url.startswith("postgresql://") and str(home / "pgdata") in url
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select current_database(), (select extversion from pg_extension where extname = 'vector')")
            assert cur.fetchone()[0] == "sidetrack"
        # a second call reuses the running server
        assert runner.invoke(app, ["db", "url"]).output.strip().splitlines()[-1] == url
    finally:
        stopped = runner.invoke(app, ["db", "stop"])
    assert stopped.output.strip() == "stopped"
    assert runner.invoke(app, ["db", "stop"]).output.strip() == "not running"


def test_db_stop_leaves_an_external_database_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("SIDETRACK_HOME", str(tmp_path))
    monkeypatch.setenv("SIDETRACK_DATABASE_URL", "postgresql://someone@db.example/sidetrack")
    result = CliRunner().invoke(app, ["db", "stop"])
    assert "does not manage" in result.output
