"""Change-points: the CUSUM twin of mart_change_points, PELT, the tuned thresholds, the PELT asset
feeding the mart, the alert sensor with its webhook, and `changes` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import requests
import typer
from typer.testing import CliRunner

from sidetrack_pipeline.analytics import change_point_sim as sim
from sidetrack_pipeline.analytics import change_point_store, change_points
from sidetrack_pipeline.cli_changes import changes
from sidetrack_pipeline.defs.assets.change_points import change_point_alert_sensor, change_point_detection
from sidetrack_pipeline.defs.resources import DatabaseResource
from tests.test_dbt_models import SHIFT_WEEK, load, make_dataset, query, run_dbt


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def test_cusum_alarms_grow_as_the_threshold_falls() -> None:
    # that the twin equals the SQL mart is proven in test_dbt_models (mart vs reference_cusum)
    rng = np.random.default_rng(5)
    counts = {2.0: 0, 5.0: 0, 12.0: 0}
    for i in range(30):
        xs, _ = sim.weekly_series(rng, weeks=80, shift_at=40 if i % 2 else None, shift=0.25)
        for h in counts:
            counts[h] += len(change_points.cusum(xs, h=h))
    assert counts[2.0] > counts[5.0] > counts[12.0] > 0


def test_pelt_finds_a_planted_shift_and_not_a_null() -> None:
    rng = np.random.default_rng(9)
    xs = list(rng.normal(0.3, 0.05, 40)) + list(rng.normal(0.6, 0.05, 30))
    found = change_points.pelt(xs, penalty=4.0)
    assert [(c.change, c.direction) for c in found] == [(40, "up")]
    assert found[0].magnitude == pytest.approx(0.3, abs=0.08)
    assert found[0].statistic > 0
    down = change_points.pelt([-x for x in xs], penalty=4.0)
    assert [(c.change, c.direction) for c in down] == [(40, "down")]
    assert change_points.pelt(list(rng.normal(0.5, 0.05, 104)), penalty=4.0) == []


def test_tuned_thresholds_are_in_the_dbt_vars_and_hold_the_false_alarm_rate() -> None:
    v = change_point_store.dbt_vars()
    assert v["cusum_h"] == 12.0 and v["cusum_k"] == 0.5
    assert v["pelt_penalty"] == 4.0 and v["pelt_min_weeks"] == 3
    rng = np.random.default_rng(123)  # not the tuning seed
    nulls = [sim.weekly_series(rng)[0] for _ in range(150)]  # 300 two-year user-years
    years = 2 * len(nulls)
    cusum_rate = sum(len(change_points.cusum(x, k=v["cusum_k"], h=v["cusum_h"])) for x in nulls) / years
    pelt_rate = sum(len(change_points.pelt(x, penalty=v["pelt_penalty"])) for x in nulls) / years
    assert cusum_rate <= 0.05 and pelt_rate <= 0.05
    # the old threshold would not: autocorrelated weeks make h = 5 alarm far too often
    assert sum(len(change_points.cusum(x, h=5.0)) for x in nulls) / years > 0.2


def test_pelt_asset_feeds_the_mart_and_new_change_points_alert(
    db_url: str, tmp_path: Path, httpserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_dataset()
    load(db_url, data)
    result = run_dbt(db_url, tmp_path, "run")
    assert result.returncode == 0, result.stdout[-6000:]
    database = DatabaseResource(url=db_url)

    assert dg.materialize([change_point_detection], resources={"database": database}).success
    pelt_rows = query(db_url, "select u.user_name, d.axis, d.week, d.direction, d.method "
                              "from change_point_detection d join users u using (user_id)")
    assert [r for r in pelt_rows if r[0] == "alice" and r[1] == "energy"] == [
        ("alice", "energy", SHIFT_WEEK, "up", "pelt-v1")]
    assert [r for r in pelt_rows if r[0] == "bob"] == []

    result = run_dbt(db_url, tmp_path, "build", "--select", "mart_change_points")
    assert result.returncode == 0, result.stdout[-6000:]
    mart = query(db_url, "select user_name, axis, week, direction, method from marts.mart_change_points "
                         "order by method")
    assert [r for r in mart if r[4] == "pelt-v1"] == [("alice", "energy", SHIFT_WEEK, "up", "pelt-v1")]
    # the mart's CUSUM rows are the twin's on the same weekly means (tuned h from the vars)
    with database.connect() as conn:
        series = change_point_store.weekly_series(conn, ["energy", "valence"], 3)
    names = dict(query(db_url, "select user_id, user_name from users"))
    twin = {(names[u], axis, pts[c.change][0], c.direction, "cusum-v1")
            for (u, axis), pts in series.items() for c in change_points.cusum([x for _, x in pts], h=12.0)}
    assert {r for r in mart if r[4] == "cusum-v1"} == twin
    assert ("alice", "energy", "up") in {(r[0], r[1], r[3]) for r in mart if r[4] == "cusum-v1"}
    assert all(abs((r[2] - SHIFT_WEEK).days) <= 7 for r in mart)

    # Alert: a failing webhook leaves nothing marked as alerted (the next tick retries) ...
    monkeypatch.setenv("CHANGE_POINT_WEBHOOK_URL", httpserver.url_for("/hook"))
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("down", status=503)
    with pytest.raises(requests.HTTPError):
        change_point_alert_sensor(dg.build_sensor_context(resources={"database": database}))
    assert query(db_url, "select count(*) from change_point_alert") == [(0,)]
    # ... then the evaluation reports every change-point and posts them; the next reports none.
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    first = change_point_alert_sensor(dg.build_sensor_context(resources={"database": database}))
    assert f"{len(mart)} new change-points reported (webhook posted)" in first.skip_message
    assert len(httpserver.log) == 2
    body = json.loads(httpserver.log[1][0].get_data())
    assert body["event"] == "change_points"
    assert sorted((a["user"], a["axis"], a["week"], a["method"]) for a in body["change_points"]) == sorted(
        (r[0], r[1], r[2].isoformat(), r[4]) for r in mart)
    assert query(db_url, "select count(*) from change_point_alert") == [(len(mart),)]
    second = change_point_alert_sensor(dg.build_sensor_context(resources={"database": database}))
    assert second.skip_message == "no new change-points"
    assert len(httpserver.log) == 2

    # CLI: `changes alice` lists both methods' rows; bob has none.
    monkeypatch.setenv("SIDETRACK_DATABASE_URL", db_url)
    app = typer.Typer()
    app.command()(changes)
    app.command("noop")(lambda: None)  # two commands, so `changes` is addressed by name as in sidetrack
    out = CliRunner().invoke(app, ["changes", "--user", "alice"])
    assert out.exit_code == 0, out.output
    lines = [line.split() for line in out.output.splitlines()[1:]]
    assert sorted((l[0], l[1], l[2], l[4]) for l in lines) == sorted(
        (r[1], r[2].isoformat(), r[3], r[4]) for r in mart if r[0] == "alice")
    assert all(float(l[3]) > 0.25 for l in lines)
    assert "no change-points for bob" in CliRunner().invoke(app, ["changes", "--user", "bob"]).output

