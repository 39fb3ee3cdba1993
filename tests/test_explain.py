"""`explain`: what moved each score, from the smoothed value down to features, tags and neighbours."""

from __future__ import annotations

import json

import psycopg2
import pytest
import typer
from typer.testing import CliRunner

from sidetrack_pipeline.cli_explain import explain
from sidetrack_pipeline.scoring import axes
from sidetrack_pipeline.scoring.explain import explain_track, format_explanation
from sidetrack_pipeline.scoring.smoothing_store import fuse_scores, smooth_scores
from tests import smoothing_catalogue

FEATURES = {"bpm": 126.0, "bpm_confidence": 0.9, "key": "A", "mode": "minor", "key_confidence": 0.8,
            "loudness_lufs": -9.0, "spectral_centroid_hz": 1500.0, "onset_rate": 6.0, "stereo_width": 0.12,
            "lr_correlation": 0.7, "pumpiness": 0.6, "danceability": 1.6, "dynamic_complexity": 2.0,
            "extra": {"spectral_flux": 0.04, "spectral_flatness": 0.01, "channels": 2}}


def _prepare(db_url) -> tuple[dict, int]:
    conn = psycopg2.connect(db_url)
    try:
        cat = smoothing_catalogue.build(conn, "clustered")
        track = cat["tracks"][0]      # "Regular 0 - Song 0-0"
        with conn.cursor() as cur:
            cur.execute("""insert into features (track_id, content_hash, analyzer_version, bpm, bpm_confidence, key,
                               mode, key_confidence, loudness_lufs, spectral_centroid_hz, onset_rate, stereo_width,
                               lr_correlation, pumpiness, danceability, dynamic_complexity, extra)
                           values (%(t)s, 'h', 'test', %(bpm)s, %(bpm_confidence)s, %(key)s, %(mode)s,
                               %(key_confidence)s, %(loudness_lufs)s, %(spectral_centroid_hz)s, %(onset_rate)s,
                               %(stereo_width)s, %(lr_correlation)s, %(pumpiness)s, %(danceability)s,
                               %(dynamic_complexity)s, %(extra)s)""",
                        {**FEATURES, "t": track, "extra": json.dumps(FEATURES["extra"])})
            cur.execute("delete from mood_scores where track_id = %s", (track,))
            # The current audio method's scores, without contribution rows: explain recomputes them.
            for s in axes.score_features(FEATURES):
                cur.execute("""insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                               values (%s, %s, %s, %s, %s, 'audio')""",
                            (track, s.axis, axes.METHOD, s.value, s.confidence))
            # An older mir-v1 energy score (superseded in fusion by the newer audio method).
            cur.execute("""insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                           values (%s, 'energy', 'mir-v1', 0.1, 1.0, 'audio')""", (track,))
            # Another method's own contributions (as tags-v1 writes them).
            cur.execute("""insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                           values (%s, 'energy', 'tags-v1', 0.8, 0.7, 'tags')""", (track,))
            cur.execute("""insert into score_contribution (track_id, axis, method, kind, name, contribution)
                           values (%s, 'energy', 'tags-v1', 'tag', 'techno', 0.3)""", (track,))
        conn.commit()
        fuse_scores(conn)
        smooth_scores(conn)
        conn.commit()
    finally:
        conn.close()
    return cat, track


def test_explain_names_every_kind_of_contribution(db_url):
    cat, track = _prepare(db_url)
    conn = psycopg2.connect(db_url)
    try:
        explanation = explain_track(conn, "regular 0 - song 0-0")
        assert explanation.track_id == track and explanation.artist == "Regular 0"
        assert explain_track(conn, str(track)).track_id == track
        assert explain_track(conn, "song 3-2").title == "Song 3-2"          # title (or artist) alone
        by_axis = {a.axis: a for a in explanation.axes}
        assert list(by_axis) == list(axes.AXES)
        energy = by_axis["energy"]
        with conn.cursor() as cur:
            cur.execute("""select value, confidence, provenance from mood_scores
                           where track_id = %s and axis = 'energy' and method = 'smoothed-v1'""", (track,))
            assert (energy.value, energy.confidence, energy.provenance) == cur.fetchone()
        assert energy.method == "smoothed-v1" and energy.provenance == "fused"
        assert set(energy.methods) == {"smoothed-v1", "fused-v1", axes.METHOD, "mir-v1", "tags-v1"}
        kinds = {(c.method, c.kind) for c in energy.contributions}
        assert {("smoothed-v1", "method"), ("smoothed-v1", "prior"), ("smoothed-v1", "neighbour"),
                ("fused-v1", "method"), (axes.METHOD, "feature"), ("mir-v1", "feature"),
                ("tags-v1", "tag")} <= kinds
        smoothed = [c for c in energy.contributions if c.method == "smoothed-v1"]
        assert sum(c.contribution for c in smoothed) == pytest.approx(energy.value - 0.5, abs=1e-6)
        # Neighbours are named by artist and title (the same cluster: regular 0's album, tail 0).
        neighbours = [c.name for c in smoothed if c.kind == "neighbour" and "(track " in c.name]
        assert neighbours and all(" - Song 0-" in n for n in neighbours)
        # Audio features of the current method: recomputed from its formula; they add up to its score.
        feats = {c.name: c.contribution for c in energy.contributions if c.method == axes.METHOD}
        expected = {s.axis: dict(s.contributions) for s in axes.score_features(FEATURES)}["energy"]
        assert feats == pytest.approx(expected) and len(feats) >= 2
        assert sum(feats.values()) == pytest.approx(energy.methods[axes.METHOD] - 0.5, abs=1e-5)
        # mir-v1 (no rows either): its formula's inputs, e.g. loudness at weight 0.4.
        legacy = {c.name: c.contribution for c in energy.contributions if c.method == "mir-v1"}
        assert legacy["loudness_lufs"] == pytest.approx(0.4 * ((-9 + 30) / 24 - 0.5))
        fused = {c.name: c.contribution for c in energy.contributions if c.method == "fused-v1"}
        assert set(fused) == {axes.METHOD, "tags-v1"}
        assert sum(fused.values()) == pytest.approx(energy.methods["fused-v1"] - 0.5, abs=1e-6)
        assert [c.name for c in energy.contributions if c.method == "tags-v1"] == ["techno"]

        text = format_explanation(explanation, "energy")
        assert "energy: " in text and "valence" not in text
        for word in ("loudness_lufs", "techno", "neighbour", "prior", "fused-v1", "Regular 0 - Song 0-0"):
            assert word in text

        bare = explain_track(conn, "Unknown 0 - Lost 0")
        tempo = {a.axis: a for a in bare.axes}["tempo"]
        assert tempo.provenance == "propagated" and tempo.confidence <= 0.05
        assert [c.kind for c in tempo.contributions] == ["prior"]
        assert "no evidence, no neighbours" in tempo.contributions[0].name

        with pytest.raises(LookupError):
            explain_track(conn, "Nobody - Nothing")
    finally:
        conn.close()


def test_cli_explain(db_url, sidetrack_env):
    _, track = _prepare(db_url)
    app = typer.Typer()
    app.command()(explain)
    runner = CliRunner()

    result = runner.invoke(app, ["Regular 0 - Song 0-0", "--axis", "tempo"])
    assert result.exit_code == 0, result.output
    assert "tempo: " in result.output and "energy" not in result.output
    assert "bpm" in result.output and "neighbour" in result.output

    result = runner.invoke(app, [str(track), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["track_id"] == track and len(data["axes"]) == len(axes.AXES)
    assert {c["kind"] for a in data["axes"] for c in a["contributions"]} >= {"method", "neighbour", "prior", "feature"}

    result = runner.invoke(app, ["No Such - Track"])
    assert result.exit_code == 1 and "no track matches" in result.output
    result = runner.invoke(app, [str(track), "--axis", "loudness"])
    assert result.exit_code == 2


def test_method_preference_matches_the_dbt_project():
    """explain ranks methods like the marts do: its list is the dbt var, not a drifting copy."""
    from pathlib import Path

    import yaml

    from sidetrack_pipeline.scoring.explain import METHOD_PREFERENCE

    project = yaml.safe_load((Path(__file__).parents[1] / "dbt_project" / "dbt_project.yml").read_text())
    assert tuple(project["vars"]["axis_method_preference"]) == METHOD_PREFERENCE
