"""Fusion (method `fused-v1`): one score per track and axis from every evidence method.

Evidence methods are recognised by name pattern (`EVIDENCE_FAMILIES`, configurable):

* audio   — `mir-v*` (handcrafted MIR formulas; provenance 'audio')
* tags    — `tags-v*` (web tags through the tag→axis dictionary; provenance 'tags')
* lexicon — `zeroshot-*` (zero-shot text/audio lexicon; provenance 'lexicon')

Within one family only the newest method counts (mir-v2 over mir-v1), so a family is never
counted twice. Per axis each family has a reliability weight r (table `RELIABILITY`, also in
docs/axes.md, section "Fusion and smoothing"): audio is the reference for the physical axes
(tempo, brightness, stereo size, pumpiness, mode confidence — tags and words say nothing
trustworthy about them, r = 0), while tags and lexicon may inform the perceptual axes.

    weight_m   = r(family_m, axis) · confidence_m
    value      = Σ weight_m · value_m / Σ weight_m
    confidence = 1 − Π (1 − weight_m)          (independent evidence, noisy-OR)
    provenance = the family holding ≥ DOMINANT_SHARE of the weight, else 'fused'

Contributions (kind 'method') are signed pulls away from the neutral 0.5, so that
value = 0.5 + Σ contributions:  contribution_m = weight_m / Σ weight · (value_m − 0.5).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

METHOD = "fused-v1"
NEUTRAL = 0.5
DOMINANT_SHARE = 0.75

# family → (method name patterns, provenance)
EVIDENCE_FAMILIES: dict[str, tuple[tuple[str, ...], str]] = {
    "audio": (("mir-v*",), "audio"),
    "tags": (("tags-v*",), "tags"),
    "lexicon": (("zeroshot-*",), "lexicon"),
}

# Reliability r(family, axis) in [0, 1].
RELIABILITY: dict[str, dict[str, float]] = {
    "audio": {"energy": 1.0, "valence": 0.8, "danceability": 1.0, "brightness": 1.0,
              "rhythmic_complexity": 1.0, "pumpiness": 1.0, "texture_density": 1.0,
              "stereo_size": 1.0, "tempo": 1.0, "mode_confidence": 1.0},
    "tags": {"energy": 0.6, "valence": 0.7, "danceability": 0.6, "brightness": 0.0,
             "rhythmic_complexity": 0.3, "pumpiness": 0.0, "texture_density": 0.4,
             "stereo_size": 0.0, "tempo": 0.0, "mode_confidence": 0.0},
    "lexicon": {"energy": 0.5, "valence": 0.6, "danceability": 0.5, "brightness": 0.0,
                "rhythmic_complexity": 0.2, "pumpiness": 0.0, "texture_density": 0.4,
                "stereo_size": 0.0, "tempo": 0.0, "mode_confidence": 0.0},
}


@dataclass(frozen=True)
class Evidence:
    method: str
    value: float
    confidence: float


@dataclass(frozen=True)
class FusedScore:
    value: float
    confidence: float
    provenance: str
    contributions: dict[str, float] = field(default_factory=dict)  # method → signed pull


def family_of(method: str, families: Mapping = EVIDENCE_FAMILIES) -> str | None:
    """The evidence family a method belongs to, or None (not evidence: fused-v1, smoothed-v1, …)."""
    for family, (patterns, _) in families.items():
        if any(fnmatch.fnmatchcase(method, p) for p in patterns):
            return family
    return None


def _version_key(method: str) -> tuple:
    """Natural sort key: mir-v10 > mir-v2 > mir-v1."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", method))


def select_evidence(evidence: Iterable[Evidence], families: Mapping = EVIDENCE_FAMILIES) -> dict[str, Evidence]:
    """Per family the newest method's evidence: {family: Evidence}."""
    chosen: dict[str, Evidence] = {}
    for ev in evidence:
        family = family_of(ev.method, families)
        if family is None:
            continue
        if family not in chosen or _version_key(ev.method) > _version_key(chosen[family].method):
            chosen[family] = ev
    return chosen


def fuse(axis: str, evidence: Iterable[Evidence], families: Mapping = EVIDENCE_FAMILIES,
         reliability: Mapping = RELIABILITY) -> FusedScore | None:
    """The fused score of one track on one axis, or None when no evidence may inform this axis."""
    chosen = select_evidence(evidence, families)
    weights = {}
    for family, ev in chosen.items():
        w = float(reliability.get(family, {}).get(axis, 0.0)) * min(1.0, max(0.0, ev.confidence))
        if w > 0:
            weights[family] = w
    total = sum(weights.values())
    if total <= 0:
        return None
    value = sum(w * chosen[f].value for f, w in weights.items()) / total
    miss = 1.0
    for w in weights.values():
        miss *= 1.0 - min(1.0, w)
    dominant = max(weights, key=weights.get)
    provenance = families[dominant][1] if weights[dominant] / total >= DOMINANT_SHARE else "fused"
    contributions = {chosen[f].method: w / total * (chosen[f].value - NEUTRAL) for f, w in weights.items()}
    return FusedScore(min(1.0, max(0.0, value)), min(1.0, max(0.0, 1.0 - miss)), provenance, contributions)


def fuse_all(rows: Iterable[tuple[int, str, str, float, float]], families: Mapping = EVIDENCE_FAMILIES,
             reliability: Mapping = RELIABILITY) -> dict[tuple[int, str], FusedScore]:
    """Fuse (track_id, axis, method, value, confidence) rows: {(track_id, axis): FusedScore}."""
    grouped: dict[tuple[int, str], list[Evidence]] = {}
    for track_id, axis, method, value, confidence in rows:
        if family_of(method, families) is None:
            continue
        grouped.setdefault((track_id, axis), []).append(Evidence(method, float(value), float(confidence)))
    out = {}
    for key, evidence in grouped.items():
        fused = fuse(key[1], evidence, families, reliability)
        if fused is not None:
            out[key] = fused
    return out
