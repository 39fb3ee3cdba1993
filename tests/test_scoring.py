"""The vibe axes respond to the features they are made of, and stay in 0–1."""

from __future__ import annotations

import math

import pytest

from sidetrack_pipeline.db.connection import connect
from sidetrack_pipeline.scoring import axes, store, vectors

BASE = {
    "bpm": 124.0, "bpm_confidence": 0.8, "key": "A", "mode": "minor", "key_confidence": 0.7,
    "loudness_lufs": -10.0, "loudness_range_lu": 6.0, "spectral_centroid_hz": 1200.0, "onset_rate": 4.0,
    "stereo_width": 0.1, "lr_correlation": 0.8, "pumpiness": 0.4, "danceability": 1.6,
    "dynamic_complexity": 2.0, "channels": 2,
    "extra": {"spectral_flatness": 0.05, "spectral_flux": 0.05, "spectral_rolloff_hz": 3000.0,
              "crest_factor_db": 10.0, "dynamic_range_db": 6.0},
}


def _scores(**changes):
    features = {**BASE, **changes}
    return {s.axis: s for s in axes.score_features(features)}


def test_every_axis_is_scored_within_bounds():
    scores = _scores()
    assert set(scores) == set(axes.AXES)
    for s in scores.values():
        assert 0.0 <= s.value <= 1.0 and 0.0 <= s.confidence <= 1.0


@pytest.mark.parametrize("axis, feature, low, high", [
    ("energy", "loudness_lufs", -24.0, -7.0),
    ("energy", "onset_rate", 1.0, 7.0),
    ("tempo", "bpm", 80.0, 170.0),
    ("brightness", "spectral_centroid_hz", 500.0, 3000.0),
    ("stereo_size", "stereo_width", 0.0, 0.3),
    ("pumpiness", "pumpiness", 0.1, 0.8),
    ("danceability", "danceability", 1.0, 2.0),
    ("tempo", "onset_rate", 2.0, 8.0),
    ("energy", "bpm", 80.0, 170.0),
    ("mode_confidence", "key_confidence", 0.2, 0.9),
])
def test_axes_grow_with_their_inputs(axis, feature, low, high):
    assert _scores(**{feature: low})[axis].value < _scores(**{feature: high})[axis].value


@pytest.mark.parametrize("axis, feature, low, high", [
    ("brightness", "spectral_rolloff_hz", 500.0, 4000.0),
    ("texture_density", "crest_factor_db", 16.0, 8.0),  # a lower crest factor reads denser
    ("texture_density", "dynamic_range_db", 12.0, 4.0),
    ("texture_density", "spectral_flatness", 1e-4, 1e-2),
    ("energy", "crest_factor_db", 16.0, 8.0),
])
def test_axes_grow_with_their_extra_inputs(axis, feature, low, high):
    extra = BASE["extra"]
    assert (_scores(extra={**extra, feature: low})[axis].value
            < _scores(extra={**extra, feature: high})[axis].value)


def test_contributions_add_up_to_the_value_and_name_their_features():
    for s in axes.score_features({**BASE, "loudness_lufs": -20.0, "bpm": 90.0}):
        assert s.contributions, s.axis
        assert s.value == pytest.approx(min(1.0, max(0.0, 0.5 + sum(c for _, c in s.contributions))),
                                        abs=1e-5)
    energy = _scores(loudness_lufs=-28.0)["energy"]
    assert dict(energy.contributions)["loudness_lufs"] < 0 < _scores(loudness_lufs=-7.0)["energy"].contributions[0][1]


def test_major_key_reads_happier_than_minor():
    assert _scores(mode="major")["valence"].value > _scores(mode="minor")["valence"].value


def test_missing_or_nan_features_do_not_break_scoring():
    scores = _scores(bpm=None, loudness_lufs=float("nan"), spectral_centroid_hz=0.0, extra={})
    assert all(0.0 <= s.value <= 1.0 and math.isfinite(s.value) for s in scores.values())
    assert scores["tempo"].confidence == 0.0
    assert dict(scores["energy"].contributions)["loudness_lufs"] == 0.0  # missing = neutral


def test_track_vector_has_the_declared_dimension():
    vec = vectors.track_vector(BASE)
    assert vec.shape == (vectors.DIM,) and vec.dtype.kind == "f"
    assert vectors.track_vector({**BASE, "mode": "major"})[2] > vec[2]


def test_stem_pumpiness_is_preferred_when_measured():
    proxy = _scores(pumpiness=0.2)["pumpiness"]
    stems = _scores(pumpiness=0.2, extra={**BASE["extra"], "pumpiness_stems": 0.7})["pumpiness"]
    assert proxy.value == pytest.approx(0.2) and stems.value == pytest.approx(0.7)
    assert stems.confidence > proxy.confidence


def test_score_all_replaces_mir_v1_and_writes_contributions(db_url):
    assert axes.METHOD == "mir-v2"
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') returning artist_id")
        artist = cur.fetchone()[0]
        ids = []
        for n in range(2):
            cur.execute("""insert into track (track_key, name_key, title, artist_id) values (%s, %s, 'T', %s)
                           returning track_id""", (f"k{n}", f"k{n}", artist))
            ids.append(cur.fetchone()[0])
        store.save_features(cur, ids[0], "h", {**BASE, "analyzer_version": "mir-2"})
        # leftovers of the previous method, for an analysed and an unanalysed track
        for track_id in ids:
            cur.execute("insert into mood_scores (track_id, axis, method, value) values (%s, 'energy', 'mir-v1', 0.3)",
                        (track_id,))
            cur.execute("""insert into score_contribution (track_id, axis, method, kind, name, contribution)
                           values (%s, 'energy', 'mir-v1', 'feature', 'loudness_lufs', 0.1)""", (track_id,))
        assert store.score_all(cur) == 1
        assert store.score_all(cur) == 1  # a re-run replaces, never duplicates
        cur.execute("select method, provenance, count(*) from mood_scores group by 1, 2")
        assert cur.fetchall() == [("mir-v2", "audio", 10)]
        cur.execute("select count(*) from score_contribution where method = 'mir-v1'")
        assert cur.fetchone()[0] == 0
        cur.execute("""select m.axis, m.value, sum(c.contribution) from mood_scores m
                       join score_contribution c using (track_id, axis, method)
                       where c.kind = 'feature' group by 1, 2""")
        rows = cur.fetchall()
        assert {r[0] for r in rows} == set(axes.AXES)
        for axis, value, total in rows:
            if 0.0 < value < 1.0:
                assert value == pytest.approx(0.5 + total, abs=1e-4), axis
        cur.execute("""select contribution from score_contribution
                       where axis = 'energy' and name = 'loudness_lufs' and track_id = %s""", (ids[0],))
        assert cur.fetchone()[0] == pytest.approx(0.35 * ((-10.0 + 30) / 24 - 0.5), abs=1e-6)
