"""The ten vibe axes (method `mir-v2`), each a documented, weighted blend of MIR features.

Every axis is 0–1 with a confidence (how much the underlying estimators trusted themselves).
Each input feature is first normalised to a 0–1 *term* (`_scale`: linear between two anchor
values chosen for electronic music, clipped; `_log_scale`: the same on a log axis), then the
axis is the weighted sum of its terms, weights summing to 1. So

    value = 0.5 + Σ weight_i · (term_i − 0.5)

and `weight_i · (term_i − 0.5)` is feature i's signed contribution (how far it pushed the
axis from neutral): stored in `score_contribution` (kind 'feature') by `scoring/store.py`.
A missing feature is neutral (term 0.5, contribution 0). Anchors, weights and known failure
cases: docs/axes.md; how well each axis follows its ground-truth knob: docs/validation.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

METHOD = "mir-v2"
AXES = (
    "energy", "valence", "danceability", "brightness", "rhythmic_complexity",
    "pumpiness", "texture_density", "stereo_size", "tempo", "mode_confidence",
)


@dataclass(frozen=True)
class AxisScore:
    axis: str
    value: float
    confidence: float
    contributions: tuple[tuple[str, float], ...] = field(default=(), compare=False)


def _scale(x: float | None, lo: float, hi: float) -> float:
    if x is None or not math.isfinite(x):
        return 0.5
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def _log_scale(x: float | None, lo: float, hi: float) -> float:
    if x is None or not math.isfinite(x) or x <= 0:
        return 0.5
    return _scale(math.log(x), math.log(lo), math.log(hi))


def _get(features: Mapping, key: str) -> float | None:
    value = features.get(key)
    if value is None:
        value = (features.get("extra") or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _blend(terms: list[tuple[str, float, float]]) -> tuple[float, tuple[tuple[str, float], ...]]:
    """(value, contributions) of weighted terms [(feature, weight, term 0–1)], weights sum 1."""
    contributions = tuple((name, round(w * (t - 0.5), 6)) for name, w, t in terms)
    return 0.5 + sum(c for _, c in contributions), contributions


def _pumpiness(features: Mapping, bpm_conf: float) -> tuple[float, float, str]:
    """Stem-based pumpiness (Demucs, USE_DEMUCS) when measured, else the band-pass proxy."""
    stems = _get({"x": None, "extra": features.get("extra")}, "pumpiness_stems")
    if stems is not None:
        return _scale(stems, 0.0, 1.0), 0.75 + 0.25 * bpm_conf, "pumpiness_stems"
    return _scale(_get(features, "pumpiness"), 0.0, 1.0), 0.5 + 0.5 * bpm_conf, "pumpiness"


def score_features(features: Mapping) -> list[AxisScore]:
    """All ten axes for one track's features (the dict `audio.features.analyze_file` returns)."""
    bpm = _get(features, "bpm")
    bpm_conf = _scale(_get(features, "bpm_confidence"), 0.0, 1.0)
    # key_confidence is the EDMA profile correlation of the chosen key: ~0.4 (no key) … 1.
    key_conf = _scale(_get(features, "key_confidence"), 0.4, 1.0)
    mode = features.get("mode")
    major = 1.0 if mode == "major" else -1.0 if mode == "minor" else 0.0
    onset_rate = _get(features, "onset_rate")

    tempo_lin = _scale(bpm, 60, 180)
    tempo_log = _log_scale(bpm, 60, 180)
    loudness = _scale(_get(features, "loudness_lufs"), -30, -6)
    onsets = _scale(onset_rate, 2.0, 14.0)
    centroid = _log_scale(_get(features, "spectral_centroid_hz"), 250, 3300)
    rolloff = _log_scale(_get(features, "spectral_rolloff_hz"), 150, 5000)
    # Crest factor (peak/RMS) and dynamic range fall as more sources sound at once: the sum of
    # many layers is less peaky. Both are level-invariant (unlike loudness).
    fullness = 1 - _scale(_get(features, "crest_factor_db"), 6.0, 18.0)
    steadiness = 1 - _scale(_get(features, "dynamic_range_db"), 2.5, 14.0)
    # Flatness spans decades (1e-5 for pure tones, ~0.3 for noise): compare it on a log scale.
    flatness = _log_scale(_get(features, "spectral_flatness"), 1e-5, 0.1)
    onsets_per_beat = onset_rate * 60 / bpm if (bpm and onset_rate is not None) else None
    brightness, brightness_c = _blend([("spectral_centroid_hz", 0.5, centroid),
                                       ("spectral_rolloff_hz", 0.5, rolloff)])
    mode_term = 0.5 + 0.5 * major * key_conf
    width = _scale(_get(features, "stereo_width"), 0.0, 0.25)
    lr_corr = _get(features, "lr_correlation")
    decorrelation = _scale(1 - (lr_corr if lr_corr is not None else 1), 0, 0.5)
    pump, pump_conf, pump_name = _pumpiness(features, bpm_conf)

    blends = {
        "energy": _blend([("loudness_lufs", 0.35, loudness), ("onset_rate", 0.20, onsets),
                          ("bpm", 0.20, tempo_lin), ("crest_factor_db", 0.25, fullness)]),
        "valence": _blend([("mode", 0.60, mode_term), ("brightness", 0.25, brightness),
                           ("bpm", 0.15, tempo_lin)]),
        "danceability": _blend([("danceability", 0.70, _scale(_get(features, "danceability"), 0.8, 2.2)),
                                ("bpm_confidence", 0.30, bpm_conf)]),
        "brightness": (brightness, brightness_c),
        "rhythmic_complexity": _blend([("onsets_per_beat", 0.60, _scale(onsets_per_beat, 1.5, 8.0)),
                                       ("bpm_confidence", 0.40, 1 - bpm_conf)]),
        "pumpiness": _blend([(pump_name, 1.0, pump)]),
        "texture_density": _blend([("crest_factor_db", 0.50, fullness),
                                   ("dynamic_range_db", 0.30, steadiness),
                                   ("spectral_flatness", 0.20, flatness)]),
        "stereo_size": _blend([("stereo_width", 0.70, width), ("lr_correlation", 0.30, decorrelation)]),
        # perceived speed: the beat tempo (log, so 60→90 counts like 120→180) and how many events
        # per second fill it, which softens the cost of a half/double-tempo error
        "tempo": _blend([("bpm", 0.65, tempo_log), ("onset_rate", 0.35, _scale(onset_rate, 2.0, 10.0))]),
        "mode_confidence": _blend([("key_confidence", 1.0, key_conf)]),
    }
    confidence = {
        "energy": 1.0, "valence": 0.5 + 0.5 * key_conf, "danceability": 0.5 + 0.5 * bpm_conf,
        "brightness": 1.0, "rhythmic_complexity": 0.5 + 0.5 * bpm_conf, "pumpiness": pump_conf,
        "texture_density": 1.0,
        "stereo_size": 1.0 if (features.get("channels") or 2) >= 2 else 0.5,
        "tempo": bpm_conf if bpm else 0.0, "mode_confidence": 1.0,
    }
    out = []
    for axis in AXES:
        value, contributions = blends[axis]
        out.append(AxisScore(axis, round(min(1.0, max(0.0, value)), 6),
                             round(min(1.0, max(0.0, confidence[axis])), 6), contributions))
    return out
