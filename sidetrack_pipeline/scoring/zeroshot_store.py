"""Zero-shot lexicon scoring against the database: read musicnn tag probabilities (and CLAP audio
embeddings when configured), score with `zeroshot`, and replace that method's rows in
`lexicon_scores`, `mood_scores` (provenance 'lexicon') and `score_contribution`.

Idempotent: every run deletes the method's previous rows first, inside the caller's transaction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from psycopg2.extras import execute_values

from sidetrack_pipeline.scoring import zeroshot as zs
from sidetrack_pipeline.scoring.lexicon import Lexicon, load_lexicon

TAG_MODELS = ("msd-musicnn", "mtt-musicnn")
CLAP_MODEL = "clap"

log = logging.getLogger(__name__)


@dataclass
class ZeroShotReport:
    tracks_scored: dict[str, int] = field(default_factory=dict)      # method -> tracks
    word_means: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> word -> mean
    axes: dict[str, list[str]] = field(default_factory=dict)          # method -> axes written
    reference: dict[str, str] = field(default_factory=dict)           # model -> library | prior
    skipped: list[str] = field(default_factory=list)                  # why a method did not run


def load_tag_probabilities(cur, models: Sequence[str] = TAG_MODELS
                           ) -> dict[str, tuple[list[int], list[str], np.ndarray]]:
    """model -> (track ids, tag names, (n_tracks, n_tags) probabilities), for models with rows.
    Aggregated per track in PostgreSQL (one row per track, not per tag). A track missing some
    tag (never written by the embeddings asset) reads 0 for it."""
    out = {}
    for model in models:
        cur.execute("select distinct tag from model_tags where model = %s order by tag", (model,))
        tags = [r[0] for r in cur.fetchall()]
        if not tags:
            continue
        cur.execute("""select track_id, array_agg(tag order by tag), array_agg(probability order by tag)
                       from model_tags where model = %s group by track_id order by track_id""",
                    (model,))
        rows = cur.fetchall()
        g_index = {g: i for i, g in enumerate(tags)}
        matrix = np.zeros((len(rows), len(tags)))
        for i, (_, row_tags, probs) in enumerate(rows):
            if len(row_tags) == len(tags):      # the usual case: all tags, same order
                matrix[i] = probs
            else:
                matrix[i, [g_index[g] for g in row_tags]] = probs
        out[model] = ([r[0] for r in rows], tags, matrix)
    return out


def _delete_method(cur, method: str) -> None:
    for table in ("lexicon_scores", "mood_scores", "score_contribution"):
        cur.execute(f"delete from {table} where method = %s", (method,))


CHUNK = 2000   # tracks scored and written at a time (bounds memory on large libraries)


def _write_chunk(cur, method: str, lexicon: Lexicon, track_ids: Sequence[int],
                 per_track: Sequence[dict[str, zs.WordScore]], axes_written: set[str],
                 word_sums: dict[str, float]) -> None:
    lex_rows, mood_rows, contrib_rows = [], [], []
    for track_id, words in zip(track_ids, per_track):
        for word, s in words.items():
            lex_rows.append((track_id, word, method, _unit(s.value), _unit(s.confidence)))
            word_sums[word] = word_sums.get(word, 0.0) + s.value
        for a in zs.axis_scores(lexicon, words):
            axes_written.add(a.axis)
            mood_rows.append((track_id, a.axis, method, _unit(a.value), _unit(a.confidence), "lexicon"))
            contrib_rows += [(track_id, a.axis, method, "word", w, c) for w, c in a.words.items()]
            contrib_rows += [(track_id, a.axis, method, "tag", t, c) for t, c in a.tags.items()]
    if lex_rows:
        execute_values(cur, "insert into lexicon_scores (track_id, word, method, value, confidence) "
                            "values %s", lex_rows, page_size=2000)
    if mood_rows:
        execute_values(cur, "insert into mood_scores (track_id, axis, method, value, confidence, "
                            "provenance) values %s", mood_rows, page_size=2000)
    if contrib_rows:
        execute_values(cur, "insert into score_contribution (track_id, axis, method, kind, name, "
                            "contribution) values %s", contrib_rows, page_size=2000)


def _finish(report: ZeroShotReport, method: str, lexicon: Lexicon, n_tracks: int,
            axes_written: set[str], word_sums: dict[str, float]) -> None:
    report.tracks_scored[method] = n_tracks
    report.axes[method] = sorted(axes_written)
    report.word_means[method] = ({w: round(word_sums.get(w, 0.0) / n_tracks, 4)
                                  for w in lexicon.words} if n_tracks else {})


def _unit(x: float) -> float:
    return round(min(1.0, max(0.0, float(x))), 6)


def score_musicnn(cur, lexicon: Lexicon, embed: Callable, report: ZeroShotReport) -> None:
    tables = load_tag_probabilities(cur)
    if not tables:
        _delete_method(cur, zs.METHOD_MUSICNN)
        report.tracks_scored[zs.METHOD_MUSICNN] = 0
        report.skipped.append(f"{zs.METHOD_MUSICNN}: no musicnn tag probabilities (model_tags) yet")
        return
    words = zs.word_vectors(lexicon, embed)
    track_ids = sorted({t for ids, _, _ in tables.values() for t in ids})
    models = []
    for name, (ids, tags, matrix) in tables.items():
        models.append(zs.tag_model(name, tags, words, embed, library_probs=matrix))
        report.reference[name] = models[-1].reference
    # Score each track with the models it has rows for (MSD only, MTT only, or both).
    members = {name: set(ids) for name, (ids, _, _) in tables.items()}
    groups: dict[tuple[str, ...], list[int]] = {}
    for t in track_ids:
        groups.setdefault(tuple(n for n in tables if t in members[n]), []).append(t)
    index = {name: {t: i for i, t in enumerate(ids)} for name, (ids, _, _) in tables.items()}
    _delete_method(cur, zs.METHOD_MUSICNN)
    axes_written: set[str] = set()
    word_sums: dict[str, float] = {}
    for key, group in groups.items():
        for start in range(0, len(group), CHUNK):
            chunk = group[start:start + CHUNK]
            probs = {name: tables[name][2][[index[name][t] for t in chunk]] for name in key}
            _write_chunk(cur, zs.METHOD_MUSICNN, lexicon, chunk,
                         zs.score_words(lexicon, models, probs), axes_written, word_sums)
    _finish(report, zs.METHOD_MUSICNN, lexicon, len(track_ids), axes_written, word_sums)


def clap_configured(env=None) -> str | None:
    """None when CLAP is configured (in EMBEDDING_MODEL and its checkpoint env set), else why not."""
    from sidetrack_pipeline.models.clap import ENV_VAR
    from sidetrack_pipeline.settings import get_settings

    env = os.environ if env is None else env
    if CLAP_MODEL not in get_settings().embedding_models:
        return f"CLAP is not configured (EMBEDDING_MODEL does not list '{CLAP_MODEL}')"
    if not env.get(ENV_VAR):
        return f"CLAP is not configured ({ENV_VAR} is not set)"
    return None


def load_clap_audio(cur) -> tuple[list[int], np.ndarray]:
    cur.execute("select track_id, embedding::text from embeddings where model = %s "
                "order by track_id", (CLAP_MODEL,))
    rows = cur.fetchall()
    if not rows:
        return [], np.zeros((0, 0))
    return [r[0] for r in rows], np.array([[float(x) for x in r[1].strip("[]").split(",")]
                                            for r in rows])


def score_clap(cur, lexicon: Lexicon, report: ZeroShotReport, text_model=None) -> None:
    """`text_model` (anything with `embed_text(list) -> (n, 512)`) defaults to the configured CLAP,
    loaded from local files only; without CLAP configured this method is skipped, never fetched."""
    if text_model is None:
        why = clap_configured()
        if why:
            report.skipped.append(f"{zs.METHOD_CLAP}: skipped, {why}")
            log.info("%s: skipped, %s", zs.METHOD_CLAP, why)
            return
    track_ids, audio = load_clap_audio(cur)
    if not track_ids:
        report.skipped.append(f"{zs.METHOD_CLAP}: no CLAP audio embeddings stored yet")
        log.info("%s: no CLAP audio embeddings stored yet", zs.METHOD_CLAP)
        return
    if text_model is None:
        from sidetrack_pipeline.models.clap import load_clap

        text_model = load_clap()
    prompts = [lexicon.words] + [[lexicon.glosses[w] or w for w in lexicon.words]]
    text = np.stack([text_model.embed_text([t.format(x) for x in texts])
                     for t in zs.WORD_TEMPLATES for texts in prompts])
    _delete_method(cur, zs.METHOD_CLAP)
    axes_written: set[str] = set()
    word_sums: dict[str, float] = {}
    scores = zs.clap_scores(lexicon, audio, text)   # the whole library: it is the reference
    for start in range(0, len(track_ids), CHUNK):
        _write_chunk(cur, zs.METHOD_CLAP, lexicon, track_ids[start:start + CHUNK],
                     scores[start:start + CHUNK], axes_written, word_sums)
    _finish(report, zs.METHOD_CLAP, lexicon, len(track_ids), axes_written, word_sums)


def score_lexicon(conn, lexicon: Lexicon | None = None, embed: Callable | None = None,
                  clap_text_model=None) -> ZeroShotReport:
    """Both zero-shot methods over the whole library, in `conn`'s transaction."""
    lexicon = lexicon or load_lexicon()
    if embed is None:
        from sidetrack_pipeline.models.minilm import embed_texts as embed
    report = ZeroShotReport()
    with conn.cursor() as cur:
        score_musicnn(cur, lexicon, embed, report)
        score_clap(cur, lexicon, report, text_model=clap_text_model)
    return report
