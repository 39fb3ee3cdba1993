"""What moved each `mir-v1` audio score: the mir-v1 formula inputs with their weights.

`mir-v1` stored no `score_contribution` rows, so `explain` recomputes them from the stored
features (scoring/axes.py now holds mir-v2, whose AxisScore carries its own contributions).
Each mir-v1 axis is a weighted sum of 0–1 inputs whose weights add up to 1, so the signed pull
of an input away from the neutral 0.5 is weight × (input − 0.5), and the pulls add up to the
axis value − 0.5 (before clipping to 0–1). These are the mir-v1 formulas as last shipped.
"""

from __future__ import annotations

from typing import Mapping

from sidetrack_pipeline.scoring.axes import _get, _log_scale, _scale

NEUTRAL = 0.5
METHODS = ("mir-v1",)   # audio methods whose formulas are the ones below


def formula_inputs(features: Mapping) -> dict[str, list[tuple[str, float, float]]]:
    """Per axis: (input name, weight, input value 0–1), as in axes.score_features."""
    bpm = _get(features, "bpm")
    bpm_conf = _scale(_get(features, "bpm_confidence"), 0.0, 1.0)
    key_conf = _scale(_get(features, "key_confidence"), 0.4, 1.0)
    major = 1.0 if features.get("mode") == "major" else -1.0
    tempo = _scale(bpm, 60, 180)
    loudness = _scale(_get(features, "loudness_lufs"), -30, -6)
    onsets = _scale(_get(features, "onset_rate"), 2.0, 14.0)
    brightness = _log_scale(_get(features, "spectral_centroid_hz"), 250, 3300)
    flux = _scale(_get(features, "spectral_flux"), 0.01, 0.08)
    flatness = _log_scale(_get(features, "spectral_flatness"), 1e-5, 0.1)
    dyn_complexity = _scale(_get(features, "dynamic_complexity"), 0.0, 4.0)
    onsets_per_beat = (_get(features, "onset_rate") or 0) * 60 / bpm if bpm else None
    lr_corr = _get(features, "lr_correlation")
    stems = (features.get("extra") or {}).get("pumpiness_stems")
    if isinstance(stems, (int, float)):
        pump = ("pumpiness (stems)", 1.0, _scale(stems, 0.0, 1.0))
    else:
        pump = ("pumpiness (band-pass proxy)", 1.0, _scale(_get(features, "pumpiness"), 0.0, 1.0))
    return {
        "energy": [("loudness_lufs", 0.4, loudness), ("onset_rate", 0.3, onsets),
                   ("bpm", 0.15, tempo), ("spectral_flux", 0.15, flux)],
        "valence": [(f"mode ({'major' if major > 0 else 'minor'}) x key_confidence", 0.6,
                     0.5 + 0.5 * major * key_conf),
                    ("spectral_centroid_hz", 0.25, brightness), ("bpm", 0.15, tempo)],
        "danceability": [("danceability", 0.7, _scale(_get(features, "danceability"), 0.8, 2.2)),
                         ("bpm_confidence", 0.3, bpm_conf)],
        "brightness": [("spectral_centroid_hz", 1.0, brightness)],
        "rhythmic_complexity": [("onsets per beat", 0.6, _scale(onsets_per_beat, 1.5, 8.0)),
                                ("1 - bpm_confidence", 0.4, 1 - bpm_conf)],
        "pumpiness": [pump],
        "texture_density": [("spectral_flatness", 0.4, flatness), ("onset_rate", 0.3, onsets),
                            ("1 - dynamic_complexity", 0.3, 1 - dyn_complexity)],
        "stereo_size": [("stereo_width", 0.7, _scale(_get(features, "stereo_width"), 0.0, 0.25)),
                        ("1 - lr_correlation", 0.3,
                         _scale(1 - (lr_corr if lr_corr is not None else 1), 0, 0.5))],
        "tempo": [("bpm", 1.0, tempo)],
        "mode_confidence": [("key_confidence", 1.0, key_conf)],
    }


def feature_contributions(features: Mapping) -> dict[str, dict[str, float]]:
    """Per axis: {input name: weight × (input − 0.5)}."""
    return {axis: {name: w * (v - NEUTRAL) for name, w, v in inputs}
            for axis, inputs in formula_inputs(features).items()}
