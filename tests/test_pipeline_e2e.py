"""The whole pipeline, end to end, on real parts: `sidetrack demo` builds the library and a
ListenBrainz export, imports it, materialises every asset through Dagster against the embedded
PostgreSQL, runs the real dbt models, and must find the regime shift it planted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app
from sidetrack_pipeline.db import connect
from sidetrack_pipeline.demo.library import load_ground_truth

AXES = 10

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_env(demo_session):
    """(url, home) of the session's demo, with its environment set for this module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in demo_session.env.items():
            mp.setenv(name, value)
        mp.delenv("EMBEDDING_MODEL", raising=False)
        yield demo_session.url, demo_session.home


@pytest.fixture(scope="module")
def demo_runs(demo_session):
    """The demo, run twice in a row, with every table's row count after each run."""
    return demo_session.summaries, demo_session.counts


def _scalar(url, sql):
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_demo_fills_every_layer(demo_env, demo_runs):
    url, _ = demo_env
    summary = demo_runs[0][0]
    assert summary.import_report.inserted > 2000 and not summary.import_report.rejected
    fully_scored = _scalar(url, """select count(*) from (select track_id from mood_scores
                                   group by track_id having count(distinct axis) = 10) s""")
    assert _scalar(url, "select count(*) from features") >= 40
    assert fully_scored >= 40
    assert _scalar(url, "select count(*) from analysis_error") == 0
    weeks = _scalar(url, "select count(*) from (select week from marts.mart_mood_week "
                         "group by week having count(distinct axis) = 10) w")
    assert weeks >= 70
    assert _scalar(url, "select count(*) from marts.mart_mood_week") >= 70 * AXES
    # every listen of the demo has a local file: nothing unmatched, nothing duplicated
    assert _scalar(url, "select count(*) from track where local_path is null") == 0
    assert _scalar(url, "select count(*) from taste_trajectory_week") == summary.weeks


def test_musicnn_embeddings_are_stored_and_searchable(demo_env, demo_runs):
    url, _ = demo_env
    tracks = _scalar(url, "select count(*) from track")
    assert _scalar(url, "select count(*) from embeddings where model = 'msd-musicnn' and dim = 400") == tracks
    assert _scalar(url, "select count(*) from embeddings where model = 'msd-musicnn-mean' and dim = 200") == tracks
    assert _scalar(url, "select count(*) from model_tags where model = 'msd-musicnn'") == tracks * 50
    # unit-length vectors, and the HNSW index answers nearest-neighbour queries like an exact scan
    assert abs(_scalar(url, "select avg(vector_norm(embedding)) from embeddings where model = 'msd-musicnn'") - 1) < 1e-4
    query = """select track_id from embeddings where model = 'msd-musicnn'
               order by embedding::vector(400) <=> %s::vector(400) limit 5"""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select embedding::text from embeddings where model = 'msd-musicnn' order by track_id limit 1")
        probe = cur.fetchone()[0]
        cur.execute(query, (probe,))
        exact = [r[0] for r in cur.fetchall()]
        # 48 rows: the planner would rather sort a pkey scan; rule out every plan but the ANN index
        cur.execute("set enable_seqscan = off; set enable_bitmapscan = off; set enable_sort = off")
        cur.execute("explain " + query, (probe,))
        assert "embeddings_msd_musicnn_hnsw" in " ".join(r[0] for r in cur.fetchall())
        cur.execute(query, (probe,))
        assert [r[0] for r in cur.fetchall()] == exact
    # the demo is electronic music, and the model says so
    top = _scalar(url, """select tag from model_tags where model = 'msd-musicnn'
                          group by tag order by avg(probability) desc limit 1""")
    assert top in {"electronic", "electronica", "techno", "dance", "House", "electro", "ambient", "chillout"}


def test_every_listened_track_has_every_axis_with_provenance(demo_env, demo_runs):
    url, _ = demo_env
    tracks = _scalar(url, "select count(*) from track")
    assert _scalar(url, "select count(*) from model_tags where model = 'mtt-musicnn'") == tracks * 50
    # the zero-shot lexicon scored every track on every seed word, from both vocabularies
    assert _scalar(url, """select count(*) from lexicon_scores
                           where method = 'zeroshot-musicnn-v1'""") == tracks * 20
    listened = _scalar(url, "select count(distinct track_id) from listen")
    covered = _scalar(url, """select count(*) from (
                                  select track_id from mood_scores where method = 'smoothed-v1'
                                  and track_id in (select track_id from listen)
                                  group by track_id having count(distinct axis) = 10) full_rows""")
    assert listened > 0 and covered == listened
    assert _scalar(url, """select count(*) from mood_scores where method = 'smoothed-v1'
                           and (confidence is null or provenance is null)""") == 0


def test_planted_shift_is_found(demo_runs):
    summary = demo_runs[0][0]
    near = [cp for cp in summary.change_points if abs((cp[1] - summary.shift_week).days) <= 14]
    assert near, f"no change-point within 2 weeks of {summary.shift_week}: {summary.change_points}"
    directions = {axis: direction for axis, _, direction, *_ in near}
    # the shift goes to dense, minor-key listening: energy up and/or valence down
    assert directions.get("energy", "up") == "up" and directions.get("valence", "down") == "down"


def test_demo_is_idempotent(demo_runs):
    summaries, counts = demo_runs
    assert counts[0] == counts[1]
    assert summaries[1].import_report.inserted == 0
    rounded = [[(a, w, d, round(m, 9), method) for a, w, d, m, method in s.change_points] for s in summaries]
    assert rounded[1] == rounded[0]   # float sums may differ in the last bit between runs


def test_bpm_matches_ground_truth_across_the_library(demo_env, demo_runs):
    url, _ = demo_env
    library = demo_runs[0][0].library_dir
    truth = {str((library / t["path"]).resolve()): t["tempo_bpm"] for t in load_ground_truth(library)}
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select t.local_path, f.bpm from features f join track t using (track_id)")
        measured = dict(cur.fetchall())
    assert set(measured) == set(truth)
    within = [abs(measured[p] - bpm) / bpm <= 0.04 for p, bpm in truth.items()]
    assert sum(within) / len(within) >= 0.9, sorted((truth[p], measured[p]) for p in truth)


def test_analyze_cli_bpm_matches_ground_truth(demo_env, demo_runs):
    library = demo_runs[0][0].library_dir
    truth = load_ground_truth(library)[:8]
    result = CliRunner().invoke(app, ["analyze", "--json", *[str(library / t["path"]) for t in truth]])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(rows) == len(truth)
    for row, t in zip(rows, truth):
        assert abs(row["bpm"] - t["tempo_bpm"]) / t["tempo_bpm"] <= 0.04, (row["path"], row["bpm"], t["tempo_bpm"])
        assert {"key", "mode", "loudness_lufs", "spectral_centroid_hz", "onset_rate", "stereo_width",
                "pumpiness", "bpm_confidence", "key_confidence"} <= row.keys()


def test_dashboard_renders_from_the_marts(demo_env, demo_runs):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}   # the default page: Overview
    assert metrics["Listens"] == f"{demo_runs[0][0].row_counts['listen']:,}"
    assert int(metrics["Unique tracks"].replace(",", "")) >= 40
    assert len(at.get("plotly_chart")) >= 1
