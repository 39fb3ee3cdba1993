"""`sidetrack status` on a real database and a real Dagster instance: per user the last sync (a
failed one says so), the analysis backlog, the checks that failed in the last `health_checks`
run, the daemon and the next scheduled runs; exit status 1 on a failing error-severity check,
2 when the database cannot be reached."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import psycopg2
from typer.testing import CliRunner

from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.cli import app
from sidetrack_pipeline.users import set_user
from tests.library_builder import listen_history


def _setup(db_url):
    with psycopg2.connect(db_url) as conn:
        with conn.cursor() as cur:
            listen_history(cur, "alice", [{"artist": "A", "title": f"T{i}", "count": 3} for i in range(5)])
        set_user(conn, "alice", timezone="Europe/Berlin", listenbrainz_user="alice_lb")
        set_user(conn, "bob")
        with conn.cursor() as cur:
            cur.execute("""insert into sync_run (user_id, source, mode, status, started_at, finished_at, inserted)
                           select user_id, 'listenbrainz', 'full', 'ok', now() - interval '3 hours',
                                  now() - interval '3 hours', 15 from users where user_name = 'alice'""")
            cur.execute("""insert into sync_run (user_id, source, mode, status, finished_at, error)
                           select user_id, 'listenbrainz', 'incremental', 'failed', now() - interval '10 minutes',
                                  'ListenBrainz /listens: gave up after 6 attempts; last error: 503'
                           from users where user_name = 'alice'""")
            # two tracks have local files: one waits for analysis, the other failed
            cur.execute("select distinct track_id from listen order by 1")
            first, second, *_ = [r[0] for r in cur.fetchall()]
            cur.execute("update track set local_path = '/m/' || track_id || '.flac', fingerprint = 'h' "
                        "where track_id in (%s, %s)", (first, second))
            cur.execute("""insert into analysis_error (path, track_id, content_hash, analyzer_version, error)
                           select local_path, track_id, 'h', %s, 'corrupt' from track where track_id = %s""",
                        (ANALYZER_VERSION, second))
            # a Last.fm copy of a play: the duplicate check (severity error) fails
            cur.execute("""insert into listen (user_id, track_id, played_at, source)
                           select user_id, track_id, played_at + interval '10 seconds', 'lastfm' from listen
                           order by played_at limit 1""")


def test_status_reports_syncs_backlog_failing_checks_and_next_runs(db_url, sidetrack_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("AUDIO_ROOT", str(tmp_path / "music"))
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "unscanned.flac").write_bytes(b"not yet scanned")
    _setup(db_url)
    runner = CliRunner()

    before = runner.invoke(app, ["status"])
    assert before.exit_code == 0, before.output      # nothing evaluated yet: nothing failing
    assert "never run" in before.output

    from sidetrack_pipeline.defs import defs
    from sidetrack_pipeline.pipeline import dagster_home

    dagster_home()
    with dg.DagsterInstance.get() as instance:
        defs.resolve_job_def("health_checks").execute_in_process(instance=instance, raise_on_error=False)

    result = runner.invoke(app, ["status"])
    out = result.output
    assert result.exit_code == 1, out
    assert "alice (Europe/Berlin)" in out and "bob (UTC)" in out
    assert "listens       16, last" in out   # 15 plays and the Last.fm copy
    assert "alice_lb: last sync FAILED" in out and "gave up after 6 attempts" in out
    assert "last good sync" in out and "3.0 h ago" in out
    assert "lastfm        not set up" in out
    assert "5 tracks listened to: 0 analysed, 1 waiting, 1 failed, 3 without a local file" in out
    assert "1 files new or changed since the last scan" in out
    assert "FAILED (error)  listens:no_duplicate_listens  1 cross-source copies within 60 s" in out
    assert "FAILED (warn)  audio_features:analysis_coverage" in out
    assert "dagster daemon: NOT RUNNING" in out
    for schedule in ("sync_listens_schedule", "aggregate_weeks_schedule", "health_checks_schedule",
                     "sync_lastfm_tags_schedule"):
        assert schedule in out

    data = json.loads(runner.invoke(app, ["status", "--json"]).output)
    (alice,) = [u for u in data["users"] if u["user_name"] == "alice"]
    lb = {s["source"]: s for s in alice["sources"]}["listenbrainz"]
    assert lb["last_status"] == "failed" and lb["last_inserted"] == 0
    failing = {c["check"]: c for c in data["checks"] if c["status"] == "failed"}
    assert failing["listens:no_duplicate_listens"]["severity"] == "error"
    assert "listens:listens_fresh" in failing          # the last good sync is 3 h old (limit 2 h 30)
    assert "mood_scores:mood_scores_in_range" not in failing
    now = dt.datetime.fromisoformat(data["at"])
    ticks = {s["name"]: dt.datetime.fromisoformat(s["next_tick"]) for s in data["schedules"]}
    assert all(now < t <= now + dt.timedelta(days=1) for t in ticks.values())


def test_status_without_a_database_says_so(sidetrack_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SIDETRACK_DATABASE_URL", f"postgresql://nobody@/sidetrack?host={tmp_path}/nowhere")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "cannot read the SideTrack database" in result.output
