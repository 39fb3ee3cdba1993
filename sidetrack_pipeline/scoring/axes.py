"""The ten vibe axes, first formulas (method `mir-v1`), each a documented blend of MIR features.

Every axis is 0–1. `_scale` maps a feature linearly between two anchor values chosen for
electronic music and clips outside them; the anchors and weights are listed in docs/axes.md.
Each score carries a confidence: how much the underlying estimators trusted themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

METHOD = "mir-v1"
AXES = (
    "energy", "valence", "danceability", "brightness", "rhythmic_complexity",
    "pumpiness", "texture_density", "stereo_size", "tempo", "mode_confidence",
)


@dataclass(frozen=True)
class AxisScore:
    axis: str
    value: float
    confidence: float


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
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _pumpiness(features: Mapping, bpm_conf: float) -> tuple[float, float]:
    """Stem-based pumpiness (Demucs, USE_DEMUCS) when measured, else the band-pass proxy."""
    stems = (features.get("extra") or {}).get("pumpiness_stems")
    if isinstance(stems, (int, float)) and math.isfinite(stems):
        return _scale(stems, 0.0, 1.0), 0.75 + 0.25 * bpm_conf
    return _scale(_get(features, "pumpiness"), 0.0, 1.0), 0.5 + 0.5 * bpm_conf


def score_features(features: Mapping) -> list[AxisScore]:
    """All ten axes for one track's features (the dict `audio.features.analyze_file` returns)."""
    bpm = _get(features, "bpm")
    bpm_conf = _scale(_get(features, "bpm_confidence"), 0.0, 1.0)
    # key_confidence is the EDMA profile correlation of the chosen key: ~0.4 (no key) … 1.
    key_conf = _scale(_get(features, "key_confidence"), 0.4, 1.0)
    major = 1.0 if features.get("mode") == "major" else -1.0

    tempo = _scale(bpm, 60, 180)
    loudness = _scale(_get(features, "loudness_lufs"), -30, -6)
    onsets = _scale(_get(features, "onset_rate"), 2.0, 14.0)
    brightness = _log_scale(_get(features, "spectral_centroid_hz"), 250, 3300)
    flux = _scale(_get(features, "spectral_flux"), 0.01, 0.08)
    # Flatness spans decades (1e-5 for pure tones, ~0.3 for noise): compare it on a log scale.
    flatness = _log_scale(_get(features, "spectral_flatness"), 1e-5, 0.1)
    dyn_complexity = _scale(_get(features, "dynamic_complexity"), 0.0, 4.0)
    onsets_per_beat = (_get(features, "onset_rate") or 0) * 60 / bpm if bpm else None

    energy = 0.4 * loudness + 0.3 * onsets + 0.15 * tempo + 0.15 * flux
    mode_term = 0.5 + 0.5 * major * key_conf
    valence = 0.6 * mode_term + 0.25 * brightness + 0.15 * tempo
    danceability = 0.7 * _scale(_get(features, "danceability"), 0.8, 2.2) + 0.3 * bpm_conf
    rhythmic_complexity = 0.6 * _scale(onsets_per_beat, 1.5, 8.0) + 0.4 * (1 - bpm_conf)
    texture_density = 0.4 * flatness + 0.3 * onsets + 0.3 * (1 - dyn_complexity)
    width = _scale(_get(features, "stereo_width"), 0.0, 0.25)
    lr_corr = _get(features, "lr_correlation")
    decorrelation = _scale(1 - (lr_corr if lr_corr is not None else 1), 0, 0.5)
    stereo_size = 0.7 * width + 0.3 * decorrelation

    values = {
        "energy": (energy, 1.0),
        "valence": (valence, 0.5 + 0.5 * key_conf),
        "danceability": (danceability, 0.5 + 0.5 * bpm_conf),
        "brightness": (brightness, 1.0),
        "rhythmic_complexity": (rhythmic_complexity, 0.5 + 0.5 * bpm_conf),
        "pumpiness": _pumpiness(features, bpm_conf),
        "texture_density": (texture_density, 1.0),
        "stereo_size": (stereo_size, 1.0 if features.get("channels", 2) >= 2 else 0.5),
        "tempo": (tempo, bpm_conf if bpm else 0.0),
        "mode_confidence": (key_conf, 1.0),
    }
    return [AxisScore(axis, round(min(1.0, max(0.0, v)), 6), round(min(1.0, max(0.0, c)), 6))
            for axis, (v, c) in values.items()]
