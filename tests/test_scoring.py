"""The vibe axes respond to the features they are made of, and stay in 0–1."""

from __future__ import annotations

import math

import pytest

from sidetrack_pipeline.scoring import axes, vectors

BASE = {
    "bpm": 124.0, "bpm_confidence": 0.8, "key": "A", "mode": "minor", "key_confidence": 0.7,
    "loudness_lufs": -10.0, "loudness_range_lu": 6.0, "spectral_centroid_hz": 1200.0, "onset_rate": 4.0,
    "stereo_width": 0.1, "lr_correlation": 0.8, "pumpiness": 0.4, "danceability": 1.6,
    "dynamic_complexity": 2.0, "channels": 2,
    "extra": {"spectral_flatness": 0.05, "spectral_flux": 0.05, "spectral_rolloff_hz": 3000.0},
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
    ("mode_confidence", "key_confidence", 0.2, 0.9),
])
def test_axes_grow_with_their_inputs(axis, feature, low, high):
    assert _scores(**{feature: low})[axis].value < _scores(**{feature: high})[axis].value


def test_major_key_reads_happier_than_minor():
    assert _scores(mode="major")["valence"].value > _scores(mode="minor")["valence"].value


def test_missing_or_nan_features_do_not_break_scoring():
    scores = _scores(bpm=None, loudness_lufs=float("nan"), spectral_centroid_hz=0.0, extra={})
    assert all(0.0 <= s.value <= 1.0 and math.isfinite(s.value) for s in scores.values())
    assert scores["tempo"].confidence == 0.0


def test_track_vector_has_the_declared_dimension():
    vec = vectors.track_vector(BASE)
    assert vec.shape == (vectors.DIM,) and vec.dtype.kind == "f"
    assert vectors.track_vector({**BASE, "mode": "major"})[2] > vec[2]


def test_stem_pumpiness_is_preferred_when_measured():
    proxy = _scores(pumpiness=0.2)["pumpiness"]
    stems = _scores(pumpiness=0.2, extra={**BASE["extra"], "pumpiness_stems": 0.7})["pumpiness"]
    assert proxy.value == pytest.approx(0.2) and stems.value == pytest.approx(0.7)
    assert stems.confidence > proxy.confidence
