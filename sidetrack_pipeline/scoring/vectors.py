"""The handcrafted track vector (`mir-v1`): 16 MIR features, each scaled to about 0–1.

Fixed anchors (not data-dependent z-scores) keep a track's vector stable as the library grows;
the analytics layer standardises again before UMAP.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

MODEL = "mir-v1"
# (feature, low anchor, high anchor, log scale?)
FIELDS: tuple[tuple[str, float, float, bool], ...] = (
    ("bpm", 60, 190, True),
    ("bpm_confidence", 0, 1, False),
    ("signed_key_confidence", -1, 1, False),
    ("key_confidence", 0, 1, False),
    ("loudness_lufs", -35, -5, False),
    ("loudness_range_lu", 0, 20, False),
    ("spectral_centroid_hz", 200, 6000, True),
    ("spectral_rolloff_hz", 500, 12000, True),
    ("spectral_flatness", 0, 0.4, False),
    ("spectral_flux", 0, 0.25, False),
    ("onset_rate", 0, 15, False),
    ("stereo_width", 0, 0.5, False),
    ("lr_correlation", -1, 1, False),
    ("pumpiness", 0, 1, False),
    ("danceability", 0, 3, False),
    ("dynamic_complexity", 0, 10, False),
)
DIM = len(FIELDS)


def _value(features: Mapping, name: str) -> float | None:
    if name == "signed_key_confidence":
        conf = features.get("key_confidence")
        if conf is None:
            return None
        return float(conf) * (1 if features.get("mode") == "major" else -1)
    value = features.get(name)
    if value is None:
        value = (features.get("extra") or {}).get(name)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def track_vector(features: Mapping) -> np.ndarray:
    """A DIM-long float vector; a missing feature sits at the middle of its range."""
    out = np.empty(DIM, dtype=np.float64)
    for i, (name, lo, hi, log) in enumerate(FIELDS):
        x = _value(features, name)
        if x is None or (log and x <= 0):
            out[i] = 0.5
            continue
        if log:
            x, lo, hi = math.log(x), math.log(lo), math.log(hi)
        out[i] = min(1.5, max(-0.5, (x - lo) / (hi - lo)))
    return out
