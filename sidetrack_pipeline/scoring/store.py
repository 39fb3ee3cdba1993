"""Persisting analysis results, axis scores and track vectors (plain psycopg2)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable

from psycopg2.extras import Json, execute_values

from sidetrack_pipeline.scoring import axes, vectors

FEATURE_COLUMNS = (
    "duration_s", "bpm", "bpm_confidence", "key", "mode", "key_confidence", "loudness_lufs",
    "loudness_range_lu", "spectral_centroid_hz", "onset_rate", "stereo_width", "lr_correlation",
    "pumpiness", "danceability", "dynamic_complexity",
)


def tracks_to_analyze(cur, analyzer_version: str, limit: int | None = None) -> list[tuple[int, str, str]]:
    """(track_id, path, content_hash) of matched files without current features or a known failure."""
    cur.execute("""
        select t.track_id, t.local_path, t.fingerprint from track t
        where t.local_path is not null
          and not exists (select 1 from features f where f.track_id = t.track_id
                          and f.content_hash = t.fingerprint and f.analyzer_version = %(v)s)
          and not exists (select 1 from analysis_error e where e.path = t.local_path
                          and e.content_hash = t.fingerprint and e.analyzer_version = %(v)s)
        order by t.track_id
        limit %(limit)s""", {"v": analyzer_version, "limit": limit})
    return cur.fetchall()


def save_features(cur, track_id: int, content_hash: str, features: dict) -> None:
    extra = dict(features.get("extra") or {})
    for key in ("sample_rate", "channels"):
        if key in features:
            extra[key] = features[key]
    values = [features.get(c) for c in FEATURE_COLUMNS]
    cur.execute(f"""
        insert into features (track_id, content_hash, analyzer_version, {", ".join(FEATURE_COLUMNS)}, extra)
        values (%s, %s, %s, {", ".join(["%s"] * len(FEATURE_COLUMNS))}, %s)
        on conflict (track_id) do update set
            content_hash = excluded.content_hash, analyzer_version = excluded.analyzer_version,
            {", ".join(f"{c} = excluded.{c}" for c in FEATURE_COLUMNS)},
            extra = excluded.extra, analyzed_at = now()""",
        [track_id, content_hash, features["analyzer_version"], *values, Json(json.loads(json.dumps(extra)))])
    cur.execute("delete from analysis_error where track_id = %s", (track_id,))


def save_error(cur, track_id: int, path: str, content_hash: str, analyzer_version: str, error: str) -> None:
    cur.execute("""
        insert into analysis_error (path, track_id, content_hash, analyzer_version, error)
        values (%s, %s, %s, %s, %s)
        on conflict (path) do update set track_id = excluded.track_id, content_hash = excluded.content_hash,
            analyzer_version = excluded.analyzer_version, error = excluded.error, failed_at = now()""",
        (path, track_id, content_hash, analyzer_version, error))


@dataclass
class SaveTally:
    analysed: int = 0
    errors: int = 0
    audio_seconds: float = 0.0


def store_results(connect: Callable[[], ContextManager], by_path: dict[str, tuple[int, str]],
                  results: Iterable, analyzer_version: str, log, commit_every: int = 16) -> SaveTally:
    """Store analysis results (`audio.batch.analyze_many`'s) as they arrive: features, or the
    file's error. `by_path` maps each path to (track_id, content_hash); every `commit_every`
    results are committed in a transaction of their own (`connect()`), so a killed run keeps
    what it finished and the next run resumes."""
    tally, pending = SaveTally(), []

    def flush() -> None:
        if not pending:
            return
        with connect() as conn, conn.cursor() as cur:
            for result in pending:
                track_id, digest = by_path[result.path]
                if result.features is not None:
                    save_features(cur, track_id, digest, result.features)
                    tally.audio_seconds += result.features.get("duration_s") or 0.0
                    tally.analysed += 1
                else:
                    save_error(cur, track_id, result.path, digest, analyzer_version, result.error)
                    log.warning(f"analysis failed for {result.path}: {result.error}")
                    tally.errors += 1
        pending.clear()

    for result in results:
        pending.append(result)
        if len(pending) >= commit_every:
            flush()
    flush()
    return tally


def _feature_rows(cur) -> list[tuple[int, dict]]:
    cur.execute(f"select track_id, {', '.join(FEATURE_COLUMNS)}, extra from features order by track_id")
    rows = []
    for record in cur.fetchall():
        features = dict(zip(FEATURE_COLUMNS, record[1:-1]))
        features["extra"] = record[-1] or {}
        features["channels"] = features["extra"].get("channels", 2)
        rows.append((record[0], features))
    return rows


# Audio-formula methods this one replaces: their rows are deleted when scores are recomputed.
SUPERSEDED_METHODS = ("mir-v1",)


def score_all(cur) -> int:
    """(Re)compute the audio axis scores (`axes.METHOD`, provenance 'audio') and their per-feature
    contributions for every analysed track; drop scores of unanalysed tracks and every row of a
    superseded audio method (`mir-v1`)."""
    rows = _feature_rows(cur)
    scores = [(track_id, axes.score_features(features)) for track_id, features in rows]
    values = [(track_id, s.axis, axes.METHOD, s.value, s.confidence, "audio")
              for track_id, track_scores in scores for s in track_scores]
    execute_values(cur, """
        insert into mood_scores (track_id, axis, method, value, confidence, provenance) values %s
        on conflict (track_id, axis, method) do update set
            value = excluded.value, confidence = excluded.confidence,
            provenance = excluded.provenance, computed_at = now()""",
        values, page_size=2000)
    cur.execute("""delete from mood_scores m where method = %s
                   and not exists (select 1 from features f where f.track_id = m.track_id)""", (axes.METHOD,))
    cur.execute("delete from score_contribution where method = %s and kind = 'feature'", (axes.METHOD,))
    contributions = [(track_id, s.axis, axes.METHOD, "feature", name, c)
                     for track_id, track_scores in scores for s in track_scores
                     for name, c in s.contributions]
    execute_values(cur, """
        insert into score_contribution (track_id, axis, method, kind, name, contribution) values %s""",
        contributions, page_size=5000)
    for table in ("mood_scores", "score_contribution"):
        cur.execute(f"delete from {table} where method = any(%s)", (list(SUPERSEDED_METHODS),))
    return len(rows)


def embed_all(cur) -> int:
    """(Re)compute the handcrafted `mir-v1` vector of every analysed track into `embeddings`."""
    rows = _feature_rows(cur)
    values = [(track_id, vectors.MODEL, vectors.DIM,
               "[" + ",".join(f"{x:.6f}" for x in vectors.track_vector(features)) + "]")
              for track_id, features in rows]
    execute_values(cur, """
        insert into embeddings (track_id, model, dim, embedding) values %s
        on conflict (track_id, model) do update set embedding = excluded.embedding, created_at = now()""",
        values, template="(%s, %s, %s, %s::vector)", page_size=1000)
    cur.execute("""delete from embeddings e where model = %s
                   and not exists (select 1 from features f where f.track_id = e.track_id)""", (vectors.MODEL,))
    return len(rows)
