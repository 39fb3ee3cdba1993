"""The `tags-v1` formula: a track's web tags (its own and, with less weight, its artist's),
TF-IDF weighted, through the tag → axis dictionary into 0–1 axis values with a confidence.

For track t, tag g (tags grouped by their normalised name, both sources pooled):

    tf(t, g)  = max over sources of the track's weight for g
                + ARTIST_FACTOR · max over sources of its artist's weight for g     (weights 0–1)
    idf(g)    = ln(N / df(g)) / ln(N)      N = tracks with any tag, df = tracks carrying g;
                                           0 for a tag on every track, 1 for a tag on one track
    x(t, g)   = tf · idf

For axis a, over the tags g with a mapped weight m(g, a) ≠ 0:

    value       = 0.5 + 0.5 · Σ x·m / (Σ x + PRIOR)          (shrunk towards 0.5 = no direction)
    contribution(g) = 0.5 · x·m / (Σ x + PRIOR)              (they sum to value − 0.5)
    mass        = Σ x·|m|,  agreement = |Σ x·m| / mass
    confidence  = CEILING · (1 − exp(−mass / MASS_SCALE)) · (0.5 + 0.5 · agreement)

Axes no mapped tag speaks about are not emitted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

METHOD = "tags-v1"
ARTIST_FACTOR = 0.5   # an artist's tags describe the artist's whole output, not this track
PRIOR = 0.25          # pseudo-evidence at 0.5: one weak tag barely moves a value
MASS_SCALE = 1.0      # evidence mass at which confidence reaches 63 % of its ceiling
CEILING = 0.8         # words describe a track, they never measure it: below audio's 1


@dataclass
class TrackTags:
    """One track's tag weights (0–1) by normalised tag name."""
    track: dict[str, float] = field(default_factory=dict)
    artist: dict[str, float] = field(default_factory=dict)

    def add(self, level: str, tag: str, weight: float) -> None:
        target = self.track if level == "track" else self.artist
        target[tag] = max(target.get(tag, 0.0), min(1.0, max(0.0, float(weight))))

    def tf(self) -> dict[str, float]:
        tags = set(self.track) | set(self.artist)
        return {g: self.track.get(g, 0.0) + ARTIST_FACTOR * self.artist.get(g, 0.0) for g in tags}


@dataclass(frozen=True)
class TagAxisScore:
    axis: str
    value: float
    confidence: float
    contributions: dict[str, float]   # tag -> signed contribution to value


def idf(catalogue: Mapping[int, TrackTags]) -> dict[str, float]:
    """Normalised inverse document frequency of every tag over the tagged tracks."""
    n = len(catalogue)
    df: dict[str, int] = {}
    for tags in catalogue.values():
        for g, w in tags.tf().items():
            if w > 0:
                df[g] = df.get(g, 0) + 1
    if n < 2:
        return {g: 1.0 for g in df}
    return {g: math.log(n / d) / math.log(n) for g, d in df.items()}


def score_track(tags: TrackTags, idf_by_tag: Mapping[str, float],
                axis_map: Mapping[str, Mapping[str, float]]) -> list[TagAxisScore]:
    """The axes this track's tags say something about (see the module docstring)."""
    x = {g: w * idf_by_tag.get(g, 0.0) for g, w in tags.tf().items()}
    by_axis: dict[str, list[tuple[str, float, float]]] = {}
    for g, xg in x.items():
        if xg <= 0:
            continue
        for axis, m in (axis_map.get(g) or {}).items():
            if m:
                by_axis.setdefault(axis, []).append((g, xg, m))
    scores = []
    for axis, evidence in sorted(by_axis.items()):
        total = sum(xg for _, xg, _ in evidence) + PRIOR
        signed = sum(xg * m for _, xg, m in evidence)
        mass = sum(xg * abs(m) for _, xg, m in evidence)
        agreement = abs(signed) / mass
        value = min(1.0, max(0.0, 0.5 + 0.5 * signed / total))
        confidence = CEILING * (1 - math.exp(-mass / MASS_SCALE)) * (0.5 + 0.5 * agreement)
        contributions = {g: round(0.5 * xg * m / total, 6) for g, xg, m in evidence}
        scores.append(TagAxisScore(axis, round(value, 6), round(min(1.0, confidence), 6), contributions))
    return scores


def score_catalogue(catalogue: Mapping[int, TrackTags],
                    axis_map: Mapping[str, Mapping[str, float]]) -> dict[int, list[TagAxisScore]]:
    idf_by_tag = idf(catalogue)
    return {track_id: score_track(tags, idf_by_tag, axis_map) for track_id, tags in catalogue.items()}


def group_map(rows: Iterable[tuple[str, str, float]], key) -> dict[str, dict[str, float]]:
    """tag_axis_map rows (tag, axis, weight) → {key(tag): {axis: weight}} (first spelling wins)."""
    out: dict[str, dict[str, float]] = {}
    owner: dict[str, str] = {}
    for tag, axis, weight in rows:
        k = key(tag)
        if owner.setdefault(k, tag) == tag:
            out.setdefault(k, {})[axis] = float(weight)
    return out
