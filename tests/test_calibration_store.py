"""Personal calibration against real PostgreSQL: stored models and scores, idempotence,
suggestions, the `personal_scores` asset and the `labels` CLI."""

from __future__ import annotations

import dagster as dg
import numpy as np
import psycopg2
import pytest
import typer
from typer.testing import CliRunner

from sidetrack_pipeline.cli_labels import labels_app
from sidetrack_pipeline.db.connection import connect
from sidetrack_pipeline.defs.assets.personal import personal_scores
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.scoring import axes, calibration
from sidetrack_pipeline.scoring.calibration_store import calibrate_user, label_suggestions

N_TRACKS = 40


def _vec(values) -> str:
    return "[" + ",".join(f"{float(x):.6f}" for x in values) + "]"


def _seed_library(url: str, musicnn: bool = False) -> tuple[list[int], np.ndarray, np.ndarray]:
    """N_TRACKS tracks with mir-v1 vectors and a generic energy score; user 'ana'."""
    rng = np.random.default_rng(0)
    vectors = rng.random((N_TRACKS, 16))
    energy = np.clip(0.5 * vectors[:, 4] + 0.5 * vectors[:, 10], 0, 1)
    with connect(url) as conn, conn.cursor() as cur:
        ensure_user(cur, "ana")
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'Artist A') returning artist_id")
        artist_id = cur.fetchone()[0]
        ids = []
        for i in range(N_TRACKS):
            cur.execute("""insert into track (track_key, name_key, title, artist_id)
                           values (%s, %s, %s, %s) returning track_id""",
                        (f"name:t{i}", f"a|t{i}", f"Track {i}", artist_id))
            ids.append(cur.fetchone()[0])
            cur.execute("insert into embeddings (track_id, model, dim, embedding) values (%s, 'mir-v1', 16, %s::vector)",
                        (ids[-1], _vec(vectors[i])))
            if musicnn:
                cur.execute("insert into embeddings (track_id, model, dim, embedding) "
                            "values (%s, 'msd-musicnn', 400, %s::vector)", (ids[-1], _vec(rng.random(400))))
            cur.execute("insert into mood_scores (track_id, axis, method, value) values (%s, 'energy', %s, %s)",
                        (ids[-1], axes.METHOD, float(energy[i])))
    return ids, vectors, energy


def _label(url: str, track_ids, axis: str, values, source: str = "dashboard") -> None:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select user_id from users where user_name = 'ana'")
        user_id = cur.fetchone()[0]
        for t, v in zip(track_ids, values):
            cur.execute("insert into labels_user (user_id, track_id, axis, value, source) values (%s, %s, %s, %s, %s)",
                        (user_id, t, axis, float(v), source))


def _rows(url: str):
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select track_id, axis, method, value, confidence from user_track_scores order by 1, 2")
        scores = cur.fetchall()
        cur.execute("select axis, method, n_labels, params, metrics from user_axis_model order by axis")
        models = cur.fetchall()
    return scores, models


def test_calibrate_user_stores_models_and_scores_and_is_idempotent(db_url):
    ids, vectors, energy = _seed_library(db_url)
    truth = calibration.default_hidden_rule(vectors, energy)
    _label(db_url, ids[:25], "energy", truth[:25])
    _label(db_url, ids[:3], "valence", [0.2, 0.5, 0.9])
    with connect(db_url) as conn:
        report = calibrate_user(conn, "ana")
    assert report.axes["energy"].fitted and report.axes["energy"].n_labels == 25
    assert not report.axes["valence"].fitted and "at least 8" in report.axes["valence"].reason
    first = _rows(db_url)
    scores, models = first
    assert [m[0] for m in models] == ["energy"]
    axis, method, n_labels, params, metrics = models[0]
    assert method == "personal-v1" and n_labels == 25
    assert len(params["coef"]) == len(params["features"]) == 17 and params["features"][0] == "generic"
    assert set(metrics) >= {"cv_mae_generic", "cv_mae_raw", "cv_mae_calibrated", "n_labels"}
    assert metrics["feature_blocks"] == ["mir-v1"] and metrics["labels_without_vector"] == 0
    assert len(scores) == N_TRACKS and {s[1] for s in scores} == {"energy"}
    assert all(0 <= s[3] <= 1 and 0 <= s[4] <= 1 for s in scores)
    # held-out tracks: closer to the person's rule than the generic axis is
    personal = {s[0]: s[3] for s in scores}
    held = range(25, N_TRACKS)
    assert (np.mean([abs(personal[ids[i]] - truth[i]) for i in held])
            < np.mean([abs(energy[i] - truth[i]) for i in held]))

    with connect(db_url) as conn:
        calibrate_user(conn, "ana")
    assert _rows(db_url) == first

    # labels withdrawn below the minimum: the model and its scores go
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("delete from labels_user where axis = 'energy' and track_id <> all(%s)", (ids[:5],))
    with connect(db_url) as conn:
        report = calibrate_user(conn, "ana")
    assert not report.axes["energy"].fitted
    assert _rows(db_url) == ([], [])


def test_musicnn_vectors_join_the_features_when_every_track_has_one(db_url):
    ids, vectors, energy = _seed_library(db_url, musicnn=True)
    _label(db_url, ids[:20], "energy", calibration.default_hidden_rule(vectors, energy)[:20])
    with connect(db_url) as conn:
        report = calibrate_user(conn, "ana")
    assert report.feature_blocks == ["mir-v1", "msd-musicnn"]
    _, models = _rows(db_url)
    assert len(models[0][3]["coef"]) == 1 + 16 + 400


def test_label_suggestions_name_unlabelled_tracks_with_reasons(db_url):
    ids, vectors, energy = _seed_library(db_url)
    _label(db_url, ids[:12], "energy", calibration.default_hidden_rule(vectors, energy)[:12])
    with connect(db_url) as conn:
        picks = label_suggestions(conn, "ana", "energy", k=4)
    assert len(picks) == 4 and len({p.track_id for p in picks}) == 4
    assert not {p.track_id for p in picks} & set(ids[:12])
    assert all(p.title.startswith("Track ") and p.artist == "Artist A" for p in picks)
    assert all(p.reason.startswith("uncertain") for p in picks)
    with connect(db_url) as conn, pytest.raises(LookupError):
        label_suggestions(conn, "nobody", "energy")


def test_personal_scores_asset_per_user_partition(db_url):
    ids, vectors, energy = _seed_library(db_url)
    _label(db_url, ids[:20], "energy", calibration.default_hidden_rule(vectors, energy)[:20])
    _label(db_url, ids[:2], "danceability", [0.1, 0.9])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("users", ["ana"])
        result = dg.materialize([personal_scores], partition_key="ana", instance=instance,
                                resources={"database": DatabaseResource(url=db_url)})
    assert result.success
    metadata = result.asset_materializations_for_node("personal_scores")[0].metadata
    assert metadata["energy"].value.startswith("20 labels; CV MAE generic")
    assert metadata["danceability"].value.startswith("not enough labels")
    scores, _ = _rows(db_url)
    assert len(scores) == N_TRACKS


def test_labels_cli_adds_labels_and_suggests(sidetrack_env, db_url):
    ids, _, _ = _seed_library(db_url)
    app = typer.Typer()
    app.add_typer(labels_app, name="labels")
    runner = CliRunner()
    result = runner.invoke(app, ["labels", "add", "--user", "ana", "--track-id", str(ids[3]),
                                 "--axis", "energy", "--value", "0.8"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["labels", "add", "--user", "ana", "--track-id", str(ids[3]),
                                 "--axis", "energy", "--value", "0.6"])
    assert result.exit_code == 0, result.output
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute("select track_id, axis, value, source from labels_user")
        assert cur.fetchall() == [(ids[3], "energy", 0.6, "cli")]
    conn.close()

    result = runner.invoke(app, ["labels", "add", "--user", "ana", "--track-id", str(ids[3]),
                                 "--axis", "energy", "--value", "1.5"])
    assert result.exit_code == 2 and "0..1" in result.output

    result = runner.invoke(app, ["labels", "suggest", "--user", "ana", "--axis", "energy", "--k", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("Artist A – Track ") == 3
    assert "no personal model yet (1/8 labels)" in result.output
