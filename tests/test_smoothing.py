"""Fusion (`fused-v1`) and graph smoothing (`smoothed-v1`): pure functions and a real database."""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest

from sidetrack_pipeline.scoring import fusion, smoothing
from sidetrack_pipeline.scoring.axes import AXES
from sidetrack_pipeline.scoring.fusion import Evidence, FusedScore
from sidetrack_pipeline.scoring.smoothing_store import (coverage, fuse_scores, hidden_audio_experiment,
                                                        smooth_scores)
from tests import smoothing_catalogue


# --- fusion ------------------------------------------------------------------------------------

def test_fusion_weights_by_method_reliability_and_confidence():
    ev = [Evidence("mir-v1", 0.8, 0.9), Evidence("tags-v1", 0.2, 0.5)]
    energy = fusion.fuse("energy", ev)
    w_audio, w_tags = 1.0 * 0.9, 0.6 * 0.5
    assert energy.value == pytest.approx((w_audio * 0.8 + w_tags * 0.2) / (w_audio + w_tags))
    assert energy.confidence == pytest.approx(1 - (1 - w_audio) * (1 - w_tags))
    assert energy.provenance == "audio"          # 75 % of the weight is audio
    assert sum(energy.contributions.values()) == pytest.approx(energy.value - 0.5)
    assert energy.contributions["tags-v1"] < 0 < energy.contributions["mir-v1"]

    # Tags say nothing about a physical axis: tempo is the audio value, alone.
    tempo = fusion.fuse("tempo", ev)
    assert tempo.value == pytest.approx(0.8) and set(tempo.contributions) == {"mir-v1"}
    assert fusion.fuse("tempo", [Evidence("tags-v1", 0.2, 1.0)]) is None

    # Comparable weights: mixed provenance.
    mixed = fusion.fuse("valence", [Evidence("mir-v1", 0.7, 0.5), Evidence("tags-v1", 0.3, 0.8),
                                    Evidence("zeroshot-musicnn-v1", 0.4, 0.8)])
    assert mixed.provenance == "fused"
    assert set(mixed.contributions) == {"mir-v1", "tags-v1", "zeroshot-musicnn-v1"}


def test_fusion_uses_the_newest_method_per_family_and_ignores_non_evidence():
    fused = fusion.fuse("energy", [Evidence("mir-v1", 0.1, 1.0), Evidence("mir-v2", 0.9, 1.0),
                                   Evidence("smoothed-v1", 0.0, 1.0), Evidence("experimental", 0.0, 1.0)])
    assert fused.value == pytest.approx(0.9)
    assert set(fused.contributions) == {"mir-v2"}
    only_words = fusion.fuse("danceability", [Evidence("zeroshot-musicnn-v1", 0.7, 1.0)])
    assert only_words.provenance == "lexicon" and only_words.value == pytest.approx(0.7)


# --- propagation and pooling (pure) --------------------------------------------------------------

def _chain_catalogue():
    # 0 - 1 - 2 - 3 (audio neighbours), 4 isolated; every track its own artist.
    return smoothing.Catalogue([10, 11, 12, 13, 14], np.arange(5), np.full(5, -1),
                               [(0, 1, 0.9, "knn"), (1, 2, 0.9, "knn"), (2, 3, 0.9, "knn")])


def test_propagation_fills_missing_keeps_strong_evidence_and_converges():
    fused = {(10, "energy"): FusedScore(0.9, 1.0, "audio", {}),
             (11, "energy"): FusedScore(0.8, 1.0, "audio", {}),
             (13, "energy"): FusedScore(0.2, 1.0, "audio", {}),
             (14, "energy"): FusedScore(0.3, 1.0, "audio", {})}
    report = smoothing.SmoothingReport()
    out = smoothing.smooth(_chain_catalogue(), fused, ["energy"], report=report)
    assert report.converged["energy"] and report.iterations["energy"] < smoothing.MAX_ITER
    # Track 12 has no evidence: it sits between its neighbours 11 (0.8) and 13 (0.2).
    filled = out[(12, "energy")]
    assert filled.provenance == "propagated"
    assert 0.45 < filled.value < 0.55
    assert 0.3 < filled.confidence < 1.0                     # decayed from the neighbours' 1.0
    assert {name for kind, name in filled.contributions if kind == "neighbour"} == {"track:11", "track:13"}
    # Strong evidence stays (nearly) put, even next to a very different neighbour.
    for t, v in ((10, 0.9), (11, 0.8), (13, 0.2), (14, 0.3)):
        assert out[(t, "energy")].value == pytest.approx(v, abs=0.02)
        assert out[(t, "energy")].provenance == "audio"
    # Contributions explain the value exactly.
    for score in out.values():
        assert sum(score.contributions.values()) == pytest.approx(score.value - 0.5, abs=1e-6)


def test_weak_evidence_moves_towards_neighbours_more_than_strong_evidence():
    cat = smoothing.Catalogue([1, 2, 3, 4], np.arange(4), np.full(4, -1),
                              [(0, 1, 1.0, "knn"), (2, 3, 1.0, "knn")])
    fused = {(1, "valence"): FusedScore(0.8, 1.0, "audio", {}), (2, "valence"): FusedScore(0.2, 0.3, "tags", {}),
             (3, "valence"): FusedScore(0.8, 1.0, "audio", {}), (4, "valence"): FusedScore(0.2, 0.95, "audio", {})}
    out = smoothing.smooth(cat, fused, ["valence"])
    weak_shift = out[(2, "valence")].value - 0.2
    strong_shift = out[(4, "valence")].value - 0.2
    assert weak_shift > 0.1 and weak_shift > 5 * strong_shift


def test_partial_pooling_shrinks_thin_evidence_by_the_groups_variance():
    # Artist 0: tight around 0.3 (+ one thin track at 0.9); artist 1: spread, mean 0.3 (+ thin 0.9);
    # artist 2: one strong track at 0.9 among the tight 0.3s of artist 0's style; artist 3: a lone thin 0.9.
    tight = [0.29, 0.30, 0.31, 0.30, 0.30]
    spread = [0.05, 0.55, 0.10, 0.50, 0.30]
    own = np.array(tight + [0.9] + spread + [0.9] + tight + [0.9] + [0.9])
    conf = np.array([1.0] * 5 + [0.2] + [1.0] * 5 + [0.2] + [1.0] * 5 + [1.0] + [0.2])
    artist = np.array([0] * 6 + [1] * 6 + [2] * 6 + [3])
    pool = smoothing.partial_pool(own, conf, {"artist": artist, "release": np.full(len(own), -1)})
    thin_tight, thin_spread, strong_tight, lone = pool.pooled[5], pool.pooled[11], pool.pooled[17], pool.pooled[18]
    # Thin evidence in a tight group is pulled most of the way to the group (0.3) ...
    assert thin_tight < 0.6
    # ... much more than the same evidence in a diverse group ...
    assert (0.9 - thin_tight) > 1.5 * (0.9 - thin_spread)
    # ... and strong evidence in the same kind of tight group moves far less.
    assert (0.9 - strong_tight) < 0.5 * (0.9 - thin_tight)
    # A one-track artist has only the global prior (wide): thin evidence keeps most of its value.
    assert pool.prior_level[18] == "global"
    assert lone > thin_tight and lone > 0.6
    # Group means are leave-one-out: a member with evidence is not its own prior.
    assert pool.prior[5] == pytest.approx(0.3, abs=0.05)


# --- against the database ------------------------------------------------------------------------

def _scores(cur, method):
    cur.execute("select track_id, axis, value, confidence, provenance from mood_scores where method = %s", (method,))
    return {(t, a): (v, c, p) for t, a, v, c, p in cur.fetchall()}


def test_fuse_and_smooth_cover_every_listened_track_on_every_axis(db_url):
    conn = psycopg2.connect(db_url)
    try:
        cat = smoothing_catalogue.build(conn, "clustered")
        with conn.cursor() as cur:
            # One track loses its audio for valence but has tags; another has only tags.
            some, tagged_only = cat["tracks"][0], cat["tracks"][7]
            cur.execute("delete from mood_scores where track_id = %s and axis = 'valence'", (some,))
            cur.execute("""insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                           values (%s, 'valence', 'tags-v1', 0.7, 0.8, 'tags')""", (some,))
            cur.execute("delete from mood_scores where track_id = %s", (tagged_only,))
            cur.execute("delete from embeddings where track_id = %s", (tagged_only,))
            cur.execute("""insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                           values (%s, 'energy', 'tags-v1', 0.9, 0.9, 'tags')""", (tagged_only,))
        fused_report = fuse_scores(conn)
        report = smooth_scores(conn)
        conn.commit()
        assert report["coverage"] == 1.0 and report["converged"]
        assert report["listened_tracks"] == len(cat["tracks"]) + len(cat["bare"])
        with conn.cursor() as cur:
            assert coverage(cur) == (report["listened_tracks"], report["listened_tracks"])
            fused = _scores(cur, "fused-v1")
            smoothed = _scores(cur, "smoothed-v1")
            assert fused[(some, "valence")][2] == "tags"
            assert fused[(tagged_only, "energy")][2] == "tags"
            assert (tagged_only, "tempo") not in fused           # tags never inform tempo
            assert fused_report["by_provenance"]["audio"] == len(fused) - 2
            for t in cat["tracks"] + cat["bare"]:
                for axis in AXES:
                    value, conf, prov = smoothed[(t, axis)]
                    assert 0 <= value <= 1 and 0 < conf <= 1
            assert smoothed[(some, "energy")][2] == "audio"
            assert smoothed[(tagged_only, "tempo")][2] == "propagated"
            # Bare tracks (no evidence, no vector, own artist): the global prior, low confidence, said so.
            for t in cat["bare"]:
                value, conf, prov = smoothed[(t, "energy")]
                assert prov == "propagated" and conf <= 0.05
                cur.execute("""select kind, name from score_contribution
                               where track_id = %s and axis = 'energy' and method = 'smoothed-v1'""", (t,))
                (kind, name), = cur.fetchall()
                assert kind == "prior" and "no evidence, no neighbours" in name
            # The audio neighbours come from pgvector: a track's neighbour contributions name tracks of its cluster.
            cur.execute("""select name from score_contribution where track_id = %s and method = 'smoothed-v1'
                           and kind = 'neighbour' and name like 'track:%%'""", (some,))
            neighbours = {int(n.split(":")[1]) for n, in cur.fetchall()}
            assert neighbours and sum(cat["cluster"].get(n) == cat["cluster"][some] for n in neighbours) \
                >= 0.8 * len(neighbours)
        # Idempotent: a rerun gives the same rows.
        again = smooth_scores(conn)
        conn.commit()
        with conn.cursor() as cur:
            assert again["scores"] == report["scores"]
            rerun = _scores(cur, "smoothed-v1")
            assert rerun.keys() == smoothed.keys()
            assert max(abs(rerun[k][0] - smoothed[k][0]) for k in rerun) < 1e-9
    finally:
        conn.close()


def _snapshot(cur):
    cur.execute("select md5(string_agg(track_id || axis || method || value || confidence || provenance, ','"
                " order by track_id, axis, method)) from mood_scores")
    return cur.fetchone()[0]


@pytest.mark.parametrize("kind", ["clustered", "random"])
def test_hidden_audio_experiment(db_url, kind, capsys):
    conn = psycopg2.connect(db_url)
    try:
        smoothing_catalogue.build(conn, kind)
        conn.commit()
        with conn.cursor() as cur:
            before = _snapshot(cur)
        result = hidden_audio_experiment(conn, fraction=0.2, seed=11)
        with conn.cursor() as cur:
            assert _snapshot(cur) == before                       # nothing stored was changed
            cur.execute("select count(*) from mood_scores where method <> 'mir-v1'")
            assert cur.fetchone()[0] == 0
        n_audio = smoothing_catalogue.CLUSTERS * (smoothing_catalogue.REGULAR_TRACKS + smoothing_catalogue.TAIL_TRACKS)
        assert result["audio_tracks"] == n_audio
        assert result["hidden_tracks"] == round(0.2 * n_audio)
        assert result["pairs"] == result["hidden_tracks"] * len(AXES)
        with capsys.disabled():
            print(f"\nhidden-audio experiment ({kind}): mae_smoothed={result['mae_smoothed']:.4f} "
                  f"mae_baseline={result['mae_baseline']:.4f} p={result['p_value']:.3g} improved={result['improved']}")
        if kind == "clustered":
            assert result["mae_smoothed"] < 0.6 * result["mae_baseline"]
            assert result["improved"] is True
        else:
            assert result["improved"] is False
    finally:
        conn.close()


def test_assets_materialize(db_url):
    import dagster as dg

    from sidetrack_pipeline.defs.assets.smoothing import fused_scores, smoothed_scores
    from sidetrack_pipeline.defs.resources import DatabaseResource

    conn = psycopg2.connect(db_url)
    try:
        cat = smoothing_catalogue.build(conn, "clustered")
        conn.commit()
    finally:
        conn.close()
    result = dg.materialize([fused_scores, smoothed_scores], resources={"database": DatabaseResource(url=db_url)})
    assert result.success
    meta = {m.asset_key.to_user_string(): m.metadata
            for m in result.get_asset_materialization_events() for m in [m.materialization]}
    assert meta["smoothed_scores"]["coverage"].value == 1.0
    listened = len(cat["tracks"]) + len(cat["bare"])
    assert meta["smoothed_scores"]["provenance_propagated"].value == len(cat["bare"]) * len(AXES)
    assert meta["smoothed_scores"]["provenance_audio"].value == (listened - len(cat["bare"])) * len(AXES)
    assert meta["fused_scores"]["provenance_audio"].value == (listened - len(cat["bare"])) * len(AXES)


def test_knn_query_uses_the_models_hnsw_index(db_url):
    from sidetrack_pipeline.scoring.smoothing_store import knn_edges, knn_sql

    conn = psycopg2.connect(db_url)
    try:
        cat = smoothing_catalogue.build(conn, "clustered")
        with conn.cursor() as cur:
            cur.execute("set local enable_seqscan = off")   # a tiny table: make the planner show it can
            cur.execute("explain " + knn_sql(smoothing_catalogue.DIM), {"model": "mir-v1", "k": 10})
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "embeddings_mir_v1_hnsw" in plan
            cur.execute("reset enable_seqscan")
            edges = knn_edges(cur, "mir-v1", 10)
        assert len(edges) == 10 * len(cat["tracks"])
        assert all(a != b and -1 <= s <= 1 for a, b, s in edges)
    finally:
        conn.close()


def test_empty_database(db_url):
    conn = psycopg2.connect(db_url)
    try:
        assert fuse_scores(conn)["scores"] == 0
        report = smooth_scores(conn)
        assert report["scores"] == 0 and report["coverage"] == 1.0
        result = hidden_audio_experiment(conn)
        assert result["hidden_tracks"] == 0 and result["improved"] is False and result["mae_smoothed"] is None
    finally:
        conn.close()


def test_musicbrainz_edges_carry_scores_to_a_track_without_audio(db_url):
    conn = psycopg2.connect(db_url)
    try:
        cat = smoothing_catalogue.build(conn, "clustered")
        lost = cat["bare"][0]
        album = [t for t in cat["tracks"] if cat["cluster"][t] == 2][:5]      # "Regular 2"'s album
        with conn.cursor() as cur:
            for t in album:
                cur.executemany("insert into graph_edges (src_track_id, dst_track_id, kind, weight) values (%s, %s, 'same_release', 1)",
                                [(lost, t), (t, lost)])
            # An edge kind smoothing does not know is ignored.
            cur.execute("insert into graph_edges (src_track_id, dst_track_id, kind, weight) values (%s, %s, 'played_after', 1)",
                        (lost, cat["tracks"][-1]))
        smooth_scores(conn)
        with conn.cursor() as cur:
            smoothed = _scores(cur, "smoothed-v1")
            cur.execute("select axis, avg(value) from mood_scores where method = 'mir-v1' and track_id = any(%s) group by axis",
                        (album,))
            album_mean = dict(cur.fetchall())
            cur.execute("""select name from score_contribution where track_id = %s and method = 'smoothed-v1'
                           and axis = 'energy' and kind = 'neighbour'""", (lost,))
            names = {n for n, in cur.fetchall()}
        assert names == {f"track:{t}" for t in album}
        for axis in AXES:
            value, conf, prov = smoothed[(lost, axis)]
            assert prov == "propagated" and 0.3 < conf < 0.9
            assert value == pytest.approx(album_mean[axis], abs=0.03)
        # The other bare tracks still have nothing but the prior.
        assert smoothed[(cat["bare"][1], "energy")][1] <= 0.05
    finally:
        conn.close()
