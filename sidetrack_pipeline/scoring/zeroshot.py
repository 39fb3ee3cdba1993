"""Zero-shot lexicon scores: how well each lexicon word describes a track, from evidence that was
never trained on those words. Plain NumPy; the database side is `zeroshot_store`.

`zeroshot-musicnn-v1` (text ↔ tag vocabulary):

1. Each word is embedded with MiniLM through `WORD_TEMPLATES` ("a {} song", …), and so is its
   gloss (`lexicon.SEED_GLOSSES`); the word vector is the re-normalised mean. Each musicnn tag is
   embedded as "a {tag} song" (`TAG_TEMPLATES`) — measured best of bare / one / several templates.
2. Attention of word w on tag t: softmax over the model's 50 tags of cos(w, t) / `TEMPERATURE`.
   Cosines between MiniLM phrases differ by only ~0.05 between related and unrelated tags, so a
   plain similarity-weighted sum is dominated by the many unrelated tags; the softmax with a low
   temperature keeps the mass on the few closest tags (≈ 5–10 effective tags per word).
3. Tag evidence e_t = (logit p_t − μ_t) / σ_t: how unusually strongly the tag fires, against a
   reference — the library itself (per tag mean and std of the logit over all tracks) when it holds
   at least `MIN_LIBRARY` tracks, else the fixed prior `PRIOR_LOGIT_MEAN ± PRIOR_LOGIT_STD`.
4. Raw score r_w = Σ_t a_wt e_t; standardised z_w = (r_w − mean) / std, the mean and std of r_w
   over the same reference (library: measured; prior: 0 and sqrt(Σ a²), tags taken independent).
   With both MSD and MTT tags the two z are averaged.
5. Calibrated value = logistic(`GAIN` · z): 0.5 is a typical track of the reference, 0.73 one
   standard deviation above it. Monotone in the raw score by construction.
6. Confidence = coverage (how close the word's nearest tag is: a word far from every tag has
   little evidence) × (0.4 + 0.6 · consistency), consistency being how much of the attention mass
   points the same way as the total (and, with two models, whether they agree).

`zeroshot-clap-v1` (text ↔ audio): the cosine between a track's CLAP audio embedding and each
word's CLAP prompt embeddings, minus the mean over all lexicon words (a track is "more X than the
other words"), standardised over the library (or `CLAP_PRIOR_STD` for small libraries) and mapped
through the same logistic. Confidence: the share of prompt templates that agree in sign.

Word → axis: `axis_scores` turns word values into axis values with the signed weights of
`lexicon.WORD_AXES` (value = 0.5 + Σ w·(v − 0.5) / Σ|w|), only for axes some word informs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sidetrack_pipeline.scoring.lexicon import Lexicon

METHOD_MUSICNN = "zeroshot-musicnn-v1"
METHOD_CLAP = "zeroshot-clap-v1"
WORD_TEMPLATES = ("a {} song", "music that sounds {}", "{} music", "a track with a {} mood")
TAG_TEMPLATES = ("a {} song",)
TEMPERATURE = 0.02
MIN_LIBRARY = 30            # tracks needed before the library is its own reference
PRIOR_LOGIT_MEAN = math.log(0.1 / 0.9)   # a musicnn tag fires at ~10 % on a typical track …
PRIOR_LOGIT_STD = 1.5                    # … give or take 1.5 logits
TAG_STD_FLOOR = 0.25        # logits; a tag that never moves in the library is not evidence
GAIN = 1.0
CLAP_PRIOR_STD = 0.03       # spread of relative CLAP cosines assumed for small libraries
COVERAGE_LO, COVERAGE_HI = 0.40, 0.70    # nearest-tag cosine → coverage 0 … 1
TOP_TAGS = 8                # tag contributions kept per axis

Embed = Callable[[Sequence[str]], np.ndarray]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def logistic(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-GAIN * np.asarray(z, dtype=np.float64)))


def templated(texts: Sequence[str], templates: Sequence[str], embed: Embed) -> np.ndarray:
    """Unit rows: for each text the mean of its templated phrases' embeddings."""
    return _unit(np.mean([embed([t.format(x) for x in texts]) for t in templates], axis=0))


def word_vectors(lexicon: Lexicon, embed: Embed) -> np.ndarray:
    """(n_words, d): the word's templates averaged with its gloss's templates (when it has one)."""
    bare = templated(lexicon.words, WORD_TEMPLATES, embed)
    glossed = [i for i, w in enumerate(lexicon.words) if lexicon.glosses.get(w)]
    if glossed:
        gloss = templated([lexicon.glosses[lexicon.words[i]] for i in glossed], WORD_TEMPLATES, embed)
        bare[glossed] = _unit(bare[glossed] + gloss)
    return bare


def logits(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass
class TagEvidenceModel:
    """One musicnn model's tags, the words' attention on them and the calibration reference."""

    name: str
    tags: tuple[str, ...]
    similarity: np.ndarray          # (n_words, n_tags) cosines
    attention: np.ndarray           # (n_words, n_tags) softmax rows
    coverage: np.ndarray            # (n_words,)
    tag_mean: np.ndarray | None = None   # (n_tags,) logit reference, set by fit_reference
    tag_std: np.ndarray | None = None
    word_mean: np.ndarray | None = None  # (n_words,) reference of the raw score
    word_std: np.ndarray | None = None
    reference: str = "prior"

    def evidence(self, probs: np.ndarray) -> np.ndarray:
        """(n_tracks, n_tags) standardised tag evidence."""
        return (logits(probs) - self.tag_mean) / self.tag_std

    def fit_reference(self, library_probs: np.ndarray | None) -> None:
        """Library reference when it has >= MIN_LIBRARY tracks, else the fixed prior."""
        n_tags = len(self.tags)
        if library_probs is not None and len(library_probs) >= MIN_LIBRARY:
            lg = logits(library_probs)
            self.tag_mean = lg.mean(axis=0)
            self.tag_std = np.maximum(lg.std(axis=0), TAG_STD_FLOOR)
            raw = self.evidence(library_probs) @ self.attention.T
            self.word_mean = raw.mean(axis=0)
            self.word_std = np.maximum(raw.std(axis=0), 1e-3)
            self.reference = "library"
        else:
            self.tag_mean = np.full(n_tags, PRIOR_LOGIT_MEAN)
            self.tag_std = np.full(n_tags, PRIOR_LOGIT_STD)
            self.word_mean = np.zeros(len(self.attention))
            self.word_std = np.sqrt((self.attention ** 2).sum(axis=1))
            self.reference = "prior"


def tag_model(name: str, tags: Sequence[str], words: np.ndarray, embed: Embed,
              library_probs: np.ndarray | None = None) -> TagEvidenceModel:
    """Attention of each word (rows of `words`) on `tags`, and the reference for calibration."""
    sim = words @ templated(list(tags), TAG_TEMPLATES, embed).T
    scaled = (sim - sim.max(axis=1, keepdims=True)) / TEMPERATURE
    attention = np.exp(scaled)
    attention /= attention.sum(axis=1, keepdims=True)
    coverage = np.clip((sim.max(axis=1) - COVERAGE_LO) / (COVERAGE_HI - COVERAGE_LO), 0.05, 1.0)
    model = TagEvidenceModel(name, tuple(tags), sim, attention, coverage)
    model.fit_reference(library_probs)
    return model


@dataclass
class WordScore:
    value: float
    confidence: float
    z: float
    tags: dict[str, float]          # "model:tag" -> signed contribution to `value`


def score_words(lexicon: Lexicon, models: Sequence[TagEvidenceModel],
                probs: Mapping[str, np.ndarray]) -> list[dict[str, WordScore]]:
    """Per track (rows of each model's probability matrix, aligned across models): word → score.
    `probs[model.name]` is (n_tracks, n_tags) in `model.tags` order; a model missing from `probs`
    is skipped, so MSD-only, MTT-only and both work."""
    present = [m for m in models if m.name in probs]
    if not present:
        return []
    n_tracks = len(probs[present[0].name])
    z_sum = np.zeros((n_tracks, len(lexicon.words)))
    agree = np.zeros_like(z_sum)
    parts = []
    for m in present:
        e = m.evidence(probs[m.name])                          # (N, T)
        raw = e @ m.attention.T                                # (N, W)
        z = (raw - m.word_mean) / m.word_std
        z_sum += z
        sign = np.sign(raw - m.word_mean)[:, :, None]          # (N, W, 1)
        same = np.sign(e)[:, None, :] == sign                  # (N, W, T)
        agree += (m.attention[None] * same).sum(axis=2)
        parts.append((m, e, z))
    z = z_sum / len(present)
    values = logistic(z)
    consistency = np.clip(2 * (agree / len(present)) - 1, 0, 1)
    if len(present) > 1:   # the two vocabularies disagree about the direction: halve the trust
        signs = np.sign(np.stack([p[2] for p in parts]))
        consistency = np.where((signs == signs[0]).all(axis=0), consistency, 0.5 * consistency)
    coverage = np.mean([m.coverage for m in present], axis=0)
    confidence = np.clip(coverage * (0.4 + 0.6 * consistency), 0, 1)

    results = []
    for i in range(n_tracks):
        track = {}
        for j, word in enumerate(lexicon.words):
            zij, vij = float(z[i, j]), float(values[i, j])
            factor = (vij - 0.5) / zij if abs(zij) > 1e-9 else GAIN / 4
            contribs: dict[str, float] = {}
            for m, e, _ in parts:
                share = m.attention[j] * e[i] / m.word_std[j] / len(present) * factor
                for k in np.argsort(-np.abs(share))[:TOP_TAGS]:
                    contribs[f"{m.name}:{m.tags[k]}"] = float(share[k])
            track[word] = WordScore(vij, float(confidence[i, j]), zij, contribs)
        results.append(track)
    return results


@dataclass
class AxisResult:
    axis: str
    value: float
    confidence: float
    words: dict[str, float]          # word -> signed contribution to the value
    tags: dict[str, float]           # "model:tag" -> signed contribution (through the words)


def axis_scores(lexicon: Lexicon, words: Mapping[str, WordScore]) -> list[AxisResult]:
    """value = 0.5 + Σ_w weight_w (v_w − 0.5) / Σ_w |weight_w| over the words that inform the axis;
    confidence the |weight|-weighted mean word confidence. Axes no word informs are not emitted."""
    out = []
    for axis in lexicon.informed_axes():
        weights = {w: wt for w, wt in lexicon.words_for(axis).items() if w in words}
        total = sum(abs(wt) for wt in weights.values())
        if not total:
            continue
        word_parts = {w: wt / total * (words[w].value - 0.5) for w, wt in weights.items()}
        tag_parts: dict[str, float] = {}
        for w, wt in weights.items():
            for tag, c in words[w].tags.items():
                tag_parts[tag] = tag_parts.get(tag, 0.0) + wt / total * c
        top = sorted(tag_parts.items(), key=lambda kv: -abs(kv[1]))[:TOP_TAGS]
        value = min(1.0, max(0.0, 0.5 + sum(word_parts.values())))
        confidence = sum(abs(wt) / total * words[w].confidence for w, wt in weights.items())
        out.append(AxisResult(axis, value, min(1.0, max(0.0, confidence)), word_parts, dict(top)))
    return out


def clap_scores(lexicon: Lexicon, audio: np.ndarray,
                text_per_template: np.ndarray) -> list[dict[str, WordScore]]:
    """`audio` (n_tracks, d) CLAP audio embeddings; `text_per_template` (n_templates, n_words, d)
    CLAP text embeddings of each word in each prompt template. Word scores per track."""
    audio = _unit(np.asarray(audio, dtype=np.float64))
    text = _unit(np.asarray(text_per_template, dtype=np.float64))
    cos = np.einsum("nd,kwd->nkw", audio, text)                # (N, K, W)
    rel = cos - cos.mean(axis=2, keepdims=True)                # vs. the other lexicon words
    raw = rel.mean(axis=1)                                     # (N, W)
    if len(audio) >= MIN_LIBRARY:
        mean, std = raw.mean(axis=0), np.maximum(raw.std(axis=0), 1e-4)
    else:
        mean, std = np.zeros(raw.shape[1]), np.full(raw.shape[1], CLAP_PRIOR_STD)
    z = (raw - mean) / std
    values = logistic(z)
    agree = (np.sign(rel - mean[None, None, :]) == np.sign(z)[:, None, :]).mean(axis=1)
    return [{w: WordScore(float(values[i, j]), float(agree[i, j]), float(z[i, j]), {})
             for j, w in enumerate(lexicon.words)} for i in range(len(audio))]
