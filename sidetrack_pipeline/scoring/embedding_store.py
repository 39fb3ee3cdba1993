"""Persisting learned embeddings (pooled vectors + tag probabilities) per track and model."""

from __future__ import annotations

import numpy as np
from psycopg2.extras import execute_values


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in np.asarray(vector).ravel()) + "]"


def tracks_to_embed(cur, model: str, model_version: str) -> list[tuple[int, str, str]]:
    """(track_id, path, content_hash) of matched files with no current vector for this model."""
    cur.execute("""
        select t.track_id, t.local_path, t.fingerprint from track t
        where t.local_path is not null
          and not exists (select 1 from embeddings e where e.track_id = t.track_id and e.model = %(m)s
                          and e.content_hash = t.fingerprint and e.model_version = %(v)s)
        order by t.track_id""", {"m": model, "v": model_version})
    return cur.fetchall()


def save_vector(cur, track_id: int, content_hash: str, model: str, model_version: str,
                vector: np.ndarray) -> None:
    """Store one model's vector for a track (models without tags: PANNs, OpenL3, …)."""
    cur.execute("""
        insert into embeddings (track_id, model, dim, embedding, content_hash, model_version)
        values (%s, %s, %s, %s::vector, %s, %s)
        on conflict (track_id, model) do update set
            dim = excluded.dim, embedding = excluded.embedding, content_hash = excluded.content_hash,
            model_version = excluded.model_version, created_at = now()""",
        (track_id, model, int(np.asarray(vector).size), _vector_literal(vector), content_hash, model_version))


def save_embedding(cur, track_id: int, content_hash: str, model: str, model_version: str,
                   meanstd: np.ndarray, mean: np.ndarray, tags: dict[str, float]) -> None:
    """Store `model` (mean+std, L2-normalised), `model-mean` (mean) and the tag probabilities."""
    for name, vector in ((model, meanstd), (f"{model}-mean", mean)):
        save_vector(cur, track_id, content_hash, name, model_version, vector)
    cur.execute("delete from model_tags where track_id = %s and model = %s", (track_id, model))
    execute_values(cur, "insert into model_tags (track_id, model, tag, probability) values %s",
                   [(track_id, model, tag, min(1.0, max(0.0, float(p)))) for tag, p in tags.items()])
