"""Web tags → vibe axes: tag normalisation, the seed dictionary, and its extension to unseen tags.

A tag that is a spelling of a seed tag (`tag_seed.SEED`, after `normalise` and `ALIASES`) maps
to the seed's axis weights. A qualified tag "<modifier> <seed tag>" follows its head seed tag
(`compose`: "berlin techno" → techno; a seed modifier adds half its weights: "dark ambient").
Any other tag is embedded with MiniLM in a template sentence (`TEMPLATE`) and follows its
nearest seed tag when their cosine reaches `THRESHOLD`, with the seed's weights scaled by
`similarity_factor(cos)`; below the threshold, or when the nearest seed is a neutral one
("seen live", "electronic"), it stays unmapped. `leave_one_out` measures how well this
reconstructs each seed tag from the others (the threshold was chosen with it; docs/axes.md).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from sidetrack_pipeline.scoring.tag_seed import ALIASES, SEED

__all__ = ["SEED", "ALIASES", "normalise", "seed_tag_for", "canonical", "compose", "Mapping", "map_unseen",
           "leave_one_out", "TEMPLATE", "THRESHOLD"]

TEMPLATE = "{} music"
THRESHOLD = 0.75        # cosine of the templated texts; tuned by leave-one-out (docs/axes.md)

Embed = Callable[[Sequence[str]], np.ndarray]

_AMPERSAND = re.compile(r"\s*[&+]\s*")
_APOSTROPHE_N = re.compile(r"(?<=[a-z0-9])\s*'n'?\s*(?=[a-z0-9])")   # rock'n'roll, drum 'n' bass
_LONE_N = re.compile(r"(?<=\S) n (?=\S)")                            # drum n bass (not "n dubz")
_SEPARATORS = re.compile(r"[-_/.,:;|]+")
_DROP = re.compile(r"[^\w\s]")


def normalise(tag: str) -> str:
    """Lower-case; '&', '+', 'n', "'n'" between words → 'and'; hyphens, slashes, underscores and
    dots → spaces; other punctuation dropped; whitespace collapsed.
    ("Drum 'n' Bass", "drum & bass", "Drum-and-Bass" → "drum and bass"; "Hip-Hop" → "hip hop")."""
    text = tag.lower().replace("’", "'")
    text = _AMPERSAND.sub(" and ", text)
    text = _APOSTROPHE_N.sub(" and ", text)
    text = _SEPARATORS.sub(" ", text)
    text = " ".join(_DROP.sub("", text).split())
    return _LONE_N.sub(" and ", text)


_COMPACT = {name.replace(" ", ""): name for name in SEED}
MODIFIER_SHARE = 0.5    # "<modifier> <head>": the modifier's weights added at half strength

Seed = dict[str, dict[str, float]]


def seed_tag_for(tag: str, seed: Seed = SEED) -> str | None:
    """The seed tag this tag is a spelling of, or None ("synth wave", "Lo-Fi", "dnb" → seed)."""
    name = normalise(tag)
    name = ALIASES.get(name, name)
    if name in seed:
        return name
    compact = name.replace(" ", "")
    compact = ALIASES.get(compact, compact).replace(" ", "")
    if seed is SEED:
        return _COMPACT.get(compact)
    return next((s for s in seed if s.replace(" ", "") == compact), None)


@functools.lru_cache(maxsize=65536)
def canonical(tag: str) -> str:
    """The name a tag is grouped under when scoring: its seed tag, else its normalised form."""
    return seed_tag_for(tag) or normalise(tag)


def compose(tag: str, seed: Seed = SEED) -> tuple[str, dict[str, float]] | None:
    """A qualified tag "<modifier> <seed tag>" follows its head, the longest non-neutral seed tag
    it ends with ("berlin techno", "liquid drum and bass" → the genre); when the modifier is a
    seed tag too its weights are added at MODIFIER_SHARE, clipped ("dark ambient" = ambient +
    ½ dark, "happy hardcore" = hardcore + ½ happy). None when no suffix is a seed tag."""
    words = normalise(tag).split()
    for k in range(1, len(words)):
        head = seed_tag_for(" ".join(words[k:]), seed)
        if head is None or not seed[head]:
            continue
        weights = dict(seed[head])
        modifier = seed_tag_for(" ".join(words[:k]), seed)
        for axis, w in (seed[modifier] if modifier else {}).items():
            weights[axis] = max(-1.0, min(1.0, weights.get(axis, 0.0) + MODIFIER_SHARE * w))
        return head, {axis: round(w, 4) for axis, w in weights.items()}
    return None


def similarity_factor(cosine: float, threshold: float = THRESHOLD) -> float:
    """How much of the seed's weight an unseen tag inherits: 0.5 at the threshold, 1 at cosine 1."""
    if cosine < threshold:
        return 0.0
    return 0.5 + 0.5 * (cosine - threshold) / (1.0 - threshold)


@dataclass(frozen=True)
class Mapping:
    tag: str                      # the tag as given
    weights: dict[str, float]     # axis -> weight in −1..1 (empty: unmapped or neutral)
    source: str | None            # 'seed' | 'similarity' | None (unmapped)
    via_tag: str | None = None    # the seed tag it follows (its head, for a composed tag)
    similarity: float | None = None
    rule: str | None = None       # 'spelling' | 'head' | 'nearest' | None


def _texts(tags: Sequence[str]) -> list[str]:
    return [TEMPLATE.format(t) for t in tags]


def _seed_matrix(embed: Embed, names: Sequence[str]) -> np.ndarray:
    return np.asarray(embed(_texts(names)), dtype=np.float32)


def _by_rule(tag: str, seed: Seed) -> Mapping | None:
    base = seed_tag_for(tag, seed)
    if base is not None:
        return Mapping(tag, dict(seed[base]), "seed", base if base != tag else None, rule="spelling")
    composed = compose(tag, seed)
    if composed is not None:
        return Mapping(tag, composed[1], "seed", composed[0], rule="head")
    return None


def map_unseen(tags: Sequence[str], embed: Embed, threshold: float = THRESHOLD,
               seed: Seed = SEED) -> list[Mapping]:
    """Map each tag: as a spelling of a seed tag, else by its head seed tag (`compose`), else
    by its nearest seed tag in MiniLM space (`THRESHOLD`), else unmapped."""
    out: list[Mapping | None] = []
    unseen: list[tuple[int, str]] = []
    for i, tag in enumerate(tags):
        out.append(_by_rule(tag, seed))
        if out[-1] is None:
            unseen.append((i, normalise(tag)))
    if unseen:
        names = sorted(seed)
        seed_vectors = _seed_matrix(embed, names)
        distinct = sorted({n for _, n in unseen})      # spellings sharing a normal form: embed once
        vectors = np.asarray(embed(_texts(distinct)), dtype=np.float32)
        nearest = {}
        for name, row in zip(distinct, vectors @ seed_vectors.T):
            j = int(np.argmax(row))
            nearest[name] = (names[j], float(row[j]))
        for i, name in unseen:
            out[i] = _follow(tags[i], *nearest[name], seed, threshold)
    return out  # type: ignore[return-value]


def _follow(tag: str, via: str, cosine: float, seed: Seed, threshold: float) -> Mapping:
    factor = similarity_factor(cosine, threshold)
    if factor == 0.0 or not seed[via]:
        return Mapping(tag, {}, None, via, round(cosine, 4))
    weights = {axis: round(w * factor, 4) for axis, w in seed[via].items()}
    return Mapping(tag, weights, "similarity", via, round(cosine, 4), rule="nearest")


@dataclass(frozen=True)
class LeaveOneOut:
    threshold: float
    held_out: int          # non-neutral seed tags tried
    mapped: int            # of those, mapped from the rest of the seed (head rule or nearest tag)
    agreement: float       # mean cosine between predicted and true weight vectors, over mapped
    sign_agreement: float  # over mapped: share of true (axis, |weight| ≥ 0.3) entries predicted with that sign
    neutral_kept: float    # share of neutral seed tags that stay unmapped when held out

    @property
    def coverage(self) -> float:
        return self.mapped / self.held_out if self.held_out else 0.0


def _vector(weights: dict[str, float], axes: Sequence[str]) -> np.ndarray:
    return np.array([weights.get(a, 0.0) for a in axes])


def leave_one_out(embed: Embed, thresholds: Sequence[float] = (THRESHOLD,)) -> list[LeaveOneOut]:
    """Hold out each seed tag, map it from the rest of the seed (spelling, head rule, nearest
    seed tag), compare with its curated weights."""
    from sidetrack_pipeline.scoring.axes import AXES

    names = sorted(SEED)
    vectors = _seed_matrix(embed, names)
    cosines = vectors @ vectors.T
    np.fill_diagonal(cosines, -1.0)
    results = []
    for threshold in thresholds:
        tried = mapped = kept = neutrals = 0
        agreements: list[float] = []
        signs_right = signs_total = 0
        for i, name in enumerate(names):
            rest = {n: w for n, w in SEED.items() if n != name}
            mapping = _by_rule(name, rest)
            if mapping is None:
                j = int(np.argmax(cosines[i]))
                mapping = _follow(name, names[j], float(cosines[i, j]), rest, threshold)
            predicted = mapping.weights
            if not SEED[name]:
                neutrals += 1
                kept += not predicted
                continue
            tried += 1
            if predicted:
                truth = _vector(SEED[name], AXES)
                for axis, w in SEED[name].items():
                    if abs(w) >= 0.3:
                        signs_total += 1
                        signs_right += predicted.get(axis, 0.0) * w > 0
                mapped += 1
                guess = _vector(predicted, AXES)
                agreements.append(float(truth @ guess / (np.linalg.norm(truth) * np.linalg.norm(guess))))
        results.append(LeaveOneOut(
            threshold, tried, mapped, round(float(np.mean(agreements)) if agreements else 0.0, 4),
            round(signs_right / signs_total, 4) if signs_total else 0.0,
            round(kept / neutrals, 4) if neutrals else 1.0))
    return results
