"""Weekly partitions: the definitions, the schedule, and `sidetrack backfill` of 12 weeks on a small
real database (real PostgreSQL, real dbt, real Dagster runs recorded in a local instance).

The catalogue (tests/mixtape_catalogue.py: 113 tracks with features, mir-v1 vectors and local
files in 4 sound clusters) gets 28 weeks of listens (2025-11-03 .. 2026-05-11, user ana in
America/New_York) and a score on every axis; `sidetrack backfill --from 2026-W01 --to 2026-W12`
must then cover exactly those 12 weeks."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg2
import pytest
from typer.testing import CliRunner

from mixtape_catalogue import build
from sidetrack_pipeline.analytics import clusters
from sidetrack_pipeline.users import generate_key

AXES = ("energy", "valence", "danceability", "brightness", "rhythmic_complexity", "pumpiness",
        "texture_density", "stereo_size", "tempo", "mode_confidence")
WORDS = ("dark", "happy", "energetic", "calm")
HISTORY_START = dt.date(2025, 11, 3)   # a Monday, 2025-W45
HISTORY_WEEKS = 28
FIRST, LAST = dt.date(2025, 12, 29), dt.date(2026, 3, 16)   # Mondays of 2026-W01 and 2026-W12
BACKFILLED = [FIRST + dt.timedelta(weeks=i) for i in range(12)]


def _weekly_assets():
    from sidetrack_pipeline.defs import automation

    return automation.WEEKLY_ASSETS


# --- definitions ----------------------------------------------------------------------------

def test_weekly_assets_are_weekly_partitioned_with_single_run_backfills():
    from sidetrack_pipeline.defs import defs
    from sidetrack_pipeline.defs.partitions import last_key, weekly_partitions

    repo = defs.get_repository_def()
    weekly = repo.get_job("weekly_aggregates")
    assert weekly.partitions_def == weekly_partitions
    keys = set(weekly.asset_layer.executable_asset_keys)
    assert {dg.AssetKey(k) for k in ("taste_trajectory", "cluster_weeks", "listening_outliers",
                                     "weekly_mixtapes")} <= keys
    for assets_def in _weekly_assets():
        assert assets_def.partitions_def == weekly_partitions, assets_def.keys
        assert assets_def.backfill_policy == dg.BackfillPolicy.single_run(), assets_def.keys
    # `--select tag:weekly` (UI, `dagster asset materialize`) is exactly the weekly layer
    assert set(dg.AssetSelection.tag("weekly", "").resolve(defs.resolve_asset_graph())) == keys
    # Monday weeks, keyed by the Monday, from AGGREGATE_WEEKS_START to the current week
    assert weekly_partitions.get_first_partition_key() == "2005-01-03"
    assert len(weekly_partitions.get_partition_keys()) > 1000
    now = dt.datetime(2026, 3, 18, 9, tzinfo=dt.timezone.utc)   # a Wednesday
    assert last_key(now) == "2026-03-16"
    assert last_key(dt.datetime(2026, 3, 16, 0, 1, tzinfo=dt.timezone.utc)) == "2026-03-16"
    window = weekly_partitions.time_window_for_partition_key("2026-03-16")
    assert (window.start.date(), window.end.date()) == (dt.date(2026, 3, 16), dt.date(2026, 3, 23))
    # the global models stay unpartitioned; no job mixes partitioned and unpartitioned weekly facts
    graph = defs.resolve_asset_graph()
    for key in ("track_projection", "track_clusters"):
        assert not graph.get(dg.AssetKey(key)).is_partitioned
    full = set(repo.get_job("full_pipeline").asset_layer.executable_asset_keys)
    assert not full & keys and dg.AssetKey("track_projection") in full
    marts = set(repo.get_job("aggregate_marts").asset_layer.executable_asset_keys)
    assert dg.AssetKey(["sidetrack_change_points", "change_point_detection"]) in marts
    assert any(k.path[-1] == "mart_mood_week" for k in marts)


def test_dbt_models_split_by_the_weekly_tag():
    from sidetrack_pipeline.defs.assets import dbt

    tagged = set(dbt.weekly_models(dbt.MANIFEST))
    unpartitioned = {k.path[-1] for k in dbt.sidetrack_dbt_models.keys}
    assert not tagged & unpartitioned and {"stg_listens", "int_listens_local"} <= unpartitioned
    if tagged:
        assert {k.path[-1] for k in dbt.sidetrack_dbt_weekly.keys} == tagged
        assert dbt.sidetrack_dbt_weekly.backfill_policy == dg.BackfillPolicy.single_run()
    else:   # nothing tagged yet: no empty weekly dbt asset in the graph
        assert dbt.sidetrack_dbt_weekly is None and dbt.WEEKLY_DBT_ASSETS == []
    assert dbt.model_key("mart_mood_week").path[-1] == "mart_mood_week"


def test_schedule_refreshes_the_current_and_previous_week(monkeypatch):
    from sidetrack_pipeline.defs import automation

    monkeypatch.setenv("AGGREGATE_WEEKS_INTERVAL_MINUTES", "30")
    schedule = next(s for s in automation.build_schedules() if s.name == "aggregate_weeks_schedule")
    assert schedule.cron_schedule == "*/30 * * * *" and schedule.job_name == "weekly_aggregates"
    for when, previous, current in ((dt.datetime(2026, 3, 18, 9, 30), "2026-03-09", "2026-03-16"),
                                    (dt.datetime(2026, 3, 16, 0, 30), "2026-03-09", "2026-03-16"),
                                    (dt.datetime(2026, 3, 15, 23, 30), "2026-03-02", "2026-03-09")):
        context = dg.build_schedule_context(scheduled_execution_time=when.replace(tzinfo=dt.timezone.utc))
        requests = schedule.evaluate_tick(context).run_requests
        assert len(requests) == 1   # one run for both weeks: one dbt invocation
        assert requests[0].partition_key_range == dg.PartitionKeyRange(previous, current)
    monkeypatch.delenv("AGGREGATE_WEEKS_INTERVAL_MINUTES")
    again = next(s for s in automation.build_schedules() if s.name == "aggregate_weeks_schedule")
    assert again.cron_schedule == "0 */1 * * *"   # default: 60 minutes


def test_week_helpers():
    from sidetrack_pipeline.defs.partitions import iso_week, monday_of, mondays

    assert monday_of("2026-W01") == FIRST and monday_of("2026-W12") == LAST
    assert monday_of("2026-03-18") == LAST and iso_week(FIRST) == "2026-W01"
    assert list(mondays(FIRST, LAST + dt.timedelta(days=7))) == BACKFILLED
    with pytest.raises(ValueError, match="2026-W05"):
        monday_of("March")


def test_aggregate_settings(monkeypatch):
    from sidetrack_pipeline.settings import get_settings

    monkeypatch.delenv("AGGREGATE_WEEKS_START", raising=False)
    assert get_settings().aggregate_weeks_start == dt.date(2005, 1, 3)
    monkeypatch.setenv("AGGREGATE_WEEKS_START", "2010-06-10")   # a Thursday: its week's Monday
    assert get_settings().aggregate_weeks_start == dt.date(2010, 6, 7)
    monkeypatch.setenv("AGGREGATE_WEEKS_START", "June 2010")
    with pytest.raises(ValueError, match="AGGREGATE_WEEKS_START"):
        get_settings()


def test_backfill_cli_rejects_bad_weeks():
    from sidetrack_pipeline.cli import app

    bad = CliRunner().invoke(app, ["backfill", "--from", "March", "--to", "2026-W12"])
    assert bad.exit_code == 2 and "2026-W05" in bad.output
    backwards = CliRunner().invoke(app, ["backfill", "--from", "2026-W12", "--to", "2026-W01"])
    assert backwards.exit_code == 2 and "after" in backwards.output


# --- `sidetrack backfill` on a real database --------------------------------------------------

def _history(conn) -> dict:
    """28 weeks of listens on the catalogue's tracks (mostly one cluster a week, rotating), a
    score on every axis and a few zero-shot lexicon words for every track."""
    rng = random.Random(3)
    tz = ZoneInfo("America/New_York")
    with conn.cursor() as cur:
        cur.execute("select user_id from users where user_name = 'ana'")
        user = cur.fetchone()[0]
        cur.execute("select track_id, cluster from track_cluster")
        by_cluster: dict[int, list[int]] = {}
        for track, cluster in cur.fetchall():
            if cluster != clusters.NOISE:
                by_cluster.setdefault(cluster, []).append(track)
        cur.execute("delete from listen")   # only this history: its weeks are the listened weeks
        for week in range(HISTORY_WEEKS):
            monday = dt.datetime.combine(HISTORY_START + dt.timedelta(weeks=week), dt.time(), tz)
            main = sorted(by_cluster)[week % len(by_cluster)]
            for n in range(24):
                pool = by_cluster[main] if n % 4 else by_cluster[rng.choice(sorted(by_cluster))]
                played = monday + dt.timedelta(hours=6 + 6.5 * n, minutes=rng.randrange(60))
                cur.execute("insert into listen (user_id, track_id, played_at, source) "
                            "values (%s, %s, %s, 'listenbrainz') on conflict do nothing",
                            (user, rng.choice(pool), played))
        cur.execute("select track_id from track")
        for (track,) in cur.fetchall():
            for axis in AXES:
                cur.execute("insert into mood_scores (track_id, axis, method, value, confidence) "
                            "values (%s, %s, 'mir-v2', %s, 0.8)", (track, axis, rng.random()))
            for word in WORDS:
                cur.execute("insert into lexicon_scores (track_id, word, method, value, confidence) "
                            "values (%s, %s, 'zeroshot-musicnn-v1', %s, 0.7)", (track, word, rng.random()))
    return {"user": user}


@pytest.fixture(scope="module")
def backfilled(pg_admin_uri, tmp_path_factory):
    """The catalogue and history in a fresh database, the unpartitioned upstream materialised
    (dbt views, taste map, clusters), then `sidetrack backfill --from 2026-W01 --to 2026-W12`."""
    from tests.conftest import _create_db, _drop_db
    from sidetrack_pipeline.db.migrate import upgrade

    url = _create_db(pg_admin_uri, "weekly_backfill")
    upgrade(url)
    home = tmp_path_factory.mktemp("weekly-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIDETRACK_HOME", str(home))
        mp.setenv("SIDETRACK_DATABASE_URL", url)
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        mp.setenv("SIDETRACK_SECRET_KEY", generate_key())
        conn = psycopg2.connect(url)
        with conn:
            build(conn, home / "library", "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
                  __import__("os").environ["SIDETRACK_SECRET_KEY"])
        with conn, conn.cursor() as cur:   # clusters first: the history follows them
            ids, matrix = clusters.load_vectors(cur, "mir-v1")
            clusters.write_track_clusters(cur, ids, clusters.cluster_tracks(matrix))
        with conn:
            info = _history(conn)
        conn.close()

        from sidetrack_pipeline.defs import defs
        from sidetrack_pipeline.defs.assets.dbt import sidetrack_dbt_models
        from sidetrack_pipeline.pipeline import _stage_keys, dagster_home

        dagster_home()
        before, _ = _stage_keys(defs)
        upstream = [k for k in before if k in sidetrack_dbt_models.keys
                    or k in (dg.AssetKey("track_projection"), dg.AssetKey("track_clusters"))]
        with dg.DagsterInstance.get() as instance:
            assert defs.resolve_job_def("full_pipeline").execute_in_process(
                instance=instance, asset_selection=upstream).success

        from sidetrack_pipeline.cli import app

        result = CliRunner().invoke(app, ["backfill", "--from", "2026-W01", "--to", "2026-W12"])
        assert result.exit_code == 0, result.output
        yield url, home, info, result.output
    _drop_db(pg_admin_uri, "weekly_backfill")


def _weeks(url, sql) -> list[dt.date]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return sorted(r[0] for r in cur.fetchall())


def _rows(url, sql) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return sorted(cur.fetchall())


@pytest.mark.slow
def test_backfill_covers_exactly_the_twelve_weeks(backfilled):
    url, home, _, output = backfilled
    assert "weeks 2025-12-29 .. 2026-03-16 (12 partitions)" in output
    assert "weekly_aggregates): success" in output and "aggregate_marts): success" in output
    for table in ("taste_trajectory_week", "cluster_week", "listening_outlier", "mixtape"):
        assert _weeks(url, f"select distinct week from {table}") == BACKFILLED, table
    # a mixtape for every listened week (60-90 minutes of the dominant cluster), none skipped
    made = _rows(url, "select status, minutes, cluster, week from mixtape")
    assert len(made) == 12 and all(s == "ok" and 60 <= m <= 90 for s, m, _, _ in made)
    assert _rows(url, """select m.week, m.cluster from mixtape m""") == _rows(
        url, "select week, cluster from cluster_week")
    off_cluster = _rows(url, """select mt.track_id from mixtape_track mt join mixtape m using (mixtape_id)
                                join track_cluster c on c.track_id = mt.track_id and c.method = m.cluster_method
                                where c.cluster <> m.cluster""")
    assert off_cluster == []
    # the runs are in the local instance, as one run over the 12 partitions
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        done = instance.get_materialized_partitions(dg.AssetKey("taste_trajectory"))
        assert sorted(done) == [d.isoformat() for d in BACKFILLED]
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="weekly_aggregates"))
        assert len(runs) == 1
        assert runs[0].tags["dagster/asset_partition_range_start"] == "2025-12-29"
        assert runs[0].tags["dagster/asset_partition_range_end"] == "2026-03-16"


@pytest.mark.slow
def test_backfilled_marts_cover_exactly_those_weeks(backfilled):
    from sidetrack_pipeline.defs.assets import dbt

    if not dbt.WEEKLY_DBT_ASSETS:
        pytest.skip("no dbt model is tagged `weekly` yet: the marts are rebuilt over the whole history")
    url = backfilled[0]
    marts = [dbt.model_key(name) for name in dbt.weekly_models(dbt.MANIFEST)]
    assert any(key.path[0] == "marts" for key in marts)
    for relation in [".".join(key.path) for key in marts if key.path[0] == "marts"]:
        columns = _rows(url, f"""select column_name from information_schema.columns
                                 where table_schema || '.' || table_name = '{relation}'""")
        if ("week",) in columns:
            assert _weeks(url, f"select distinct week from {relation}") == BACKFILLED, relation
    assert _weeks(url, "select distinct week from marts.mart_mood_week") == BACKFILLED


def _sensor_answer(instance, run):
    """What aggregate_marts_sensor says about a finished run."""
    from dagster._core.events import DagsterEventType

    from sidetrack_pipeline.defs.automation import aggregate_marts_sensor

    success = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_SUCCESS).records
    context = dg.build_run_status_sensor_context(
        sensor_name="aggregate_marts_sensor", dagster_event=success[0].event_log_entry.dagster_event,
        dagster_instance=instance, dagster_run=run)
    return aggregate_marts_sensor(context)


@pytest.mark.slow
def test_rematerializing_a_week_is_idempotent(backfilled):
    """One week again, with Dagster's own CLI as the README shows it (`--select tag:weekly
    --partition-range`, then `dagster job execute -j aggregate_marts`): the tables are unchanged.
    The sensor asks for the marts after that run, not after `sidetrack backfill`'s (which rebuilds
    them itself) nor after a marts run."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    url, home = backfilled[0], backfilled[1]
    tables = {
        "taste_trajectory_week": "select * from taste_trajectory_week",
        "cluster_week": "select * from cluster_week",
        "listening_outlier": "select * from listening_outlier",
        "mixtape": "select user_id, week, method, status, reason, cluster, minutes, tracks from mixtape",
        "mixtape_track": """select m.week, t.position, t.track_id, t.duration_s from mixtape_track t
                            join mixtape m using (mixtape_id)""",
        # rounded: a rebuilt week sums its listens in whatever order PostgreSQL reads them (last-bit noise)
        "mart_mood_week": "select user_id, week, axis, sample_size, round(mean_value::numeric, 12) "
                          "from marts.mart_mood_week",
    }
    before = {name: _rows(url, sql) for name, sql in tables.items()}
    dagster = str(Path(sys.executable).with_name("dagster"))
    repo = Path(__file__).resolve().parents[1]
    for command in (["asset", "materialize", "-m", "sidetrack_pipeline.defs", "--select", "tag:weekly",
                     "--partition-range", "2026-01-26...2026-01-26"],
                    ["job", "execute", "-m", "sidetrack_pipeline.defs", "-j", "aggregate_marts"]):
        done = subprocess.run([dagster, *command], cwd=repo, env=os.environ.copy(), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name, sql in tables.items():
        assert _rows(url, sql) == before[name], name

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs()   # newest first: marts, the CLI's weekly week, the backfill's marts, ...
        marts_run, week_run, backfill_marts, backfill_weekly = runs[:4]
        assert week_run.tags["dagster/asset_partition_range_start"] == "2026-01-26"
        assert isinstance(_sensor_answer(instance, week_run), dg.RunRequest)
        for run in (marts_run, backfill_marts, backfill_weekly):
            assert isinstance(_sensor_answer(instance, run), dg.SkipReason), run.job_name


def test_the_week_range_reaches_dbt_only_through_its_own_call(monkeypatch):
    """dbt gets the partition range as SIDETRACK_WEEK_START/_END set around its one call; a call
    without a range runs with both unset even when this process has them; nothing leaks after."""
    import datetime as dt
    import os

    from sidetrack_pipeline.defs.assets.dbt import WEEK_ENV, week_range_env

    monkeypatch.setenv("SIDETRACK_WEEK_START", "2020-01-06")
    monkeypatch.delenv("SIDETRACK_WEEK_END", raising=False)
    with week_range_env():
        assert not any(name in os.environ for name in WEEK_ENV)
    with week_range_env(dt.date(2026, 1, 5), dt.date(2026, 1, 19)):
        assert [os.environ[name] for name in WEEK_ENV] == ["2026-01-05", "2026-01-19"]
    assert os.environ["SIDETRACK_WEEK_START"] == "2020-01-06" and "SIDETRACK_WEEK_END" not in os.environ
