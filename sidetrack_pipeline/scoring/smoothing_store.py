"""Fusion and smoothing against the database: load evidence and the graph, write `fused-v1` and
`smoothed-v1` (scores + contributions), measure coverage, and the hidden-audio experiment.

Every function runs in the caller's transaction; writes replace the method's rows, so reruns
are idempotent. `hidden_audio_experiment` works on in-memory copies and writes nothing.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
from psycopg2.extras import execute_values

from sidetrack_pipeline.ingest.musicbrainz_graph import SPECIAL_ARTISTS
from sidetrack_pipeline.scoring import fusion, smoothing
from sidetrack_pipeline.scoring.axes import AXES

# Embedding models whose k nearest neighbours become graph edges (each one present is used).
KNN_MODELS = ("msd-musicnn", "mir-v1")
OWN_METHODS = (fusion.METHOD, smoothing.METHOD)


def load_evidence(cur, families: Mapping = fusion.EVIDENCE_FAMILIES) -> list[tuple[int, str, str, float, float]]:
    """(track_id, axis, method, value, confidence) of every evidence method's score."""
    cur.execute("select track_id, axis, method, value, confidence from mood_scores "
                "where method <> all(%s) order by track_id, axis, method", (list(OWN_METHODS),))
    return [r for r in cur.fetchall() if fusion.family_of(r[2], families) is not None]


def knn_sql(dim: int) -> str:
    """k nearest neighbours of every `model` vector: one query, a lateral ANN search per track
    ordered by `embedding::vector(dim) <=> …`, the expression of the model's partial HNSW index."""
    return f"""
        select a.track_id, n.track_id, n.similarity
        from embeddings a
        cross join lateral (
            select b.track_id, 1 - (b.embedding::vector({dim}) <=> a.embedding::vector({dim})) as similarity
            from embeddings b
            where b.model = %(model)s and b.track_id <> a.track_id
            order by b.embedding::vector({dim}) <=> a.embedding::vector({dim})
            limit %(k)s) n
        where a.model = %(model)s"""


def knn_edges(cur, model: str, k: int = smoothing.KNN_K) -> list[tuple[int, int, float]]:
    """(track, neighbour, cosine similarity) for the k nearest neighbours of every track with a
    `model` vector: one query, a lateral ANN search per track on the model's HNSW index."""
    cur.execute("select distinct dim from embeddings where model = %s", (model,))
    dims = [r[0] for r in cur.fetchall()]
    if len(dims) != 1:
        return []
    cur.execute(knn_sql(int(dims[0])), {"model": model, "k": k})
    return [(a, b, float(s)) for a, b, s in cur.fetchall() if s is not None and math.isfinite(s)]


def load_catalogue(cur, knn_models: Sequence[str] = KNN_MODELS, k: int = smoothing.KNN_K) -> smoothing.Catalogue:
    """Listened tracks plus every track with a score or a vector, their groups and the edges."""
    # Placeholder artists (Various Artists, [unknown], …) are no group to pool over.
    cur.execute("""
        select t.track_id,
               case when a.mbid::text = any(%(special)s)
                         or a.artist_key in ('name:various artists', 'name:various', 'name:unknown',
                                             'name:[unknown]', 'name:unknown artist')
                    then -1 else t.artist_id end,
               coalesce(t.release_id, -1)
        from track t join artist a on a.artist_id = t.artist_id
        where exists (select 1 from listen l where l.track_id = t.track_id)
           or exists (select 1 from mood_scores m where m.track_id = t.track_id
                      and m.method <> all(%(own)s))
           or exists (select 1 from embeddings e where e.track_id = t.track_id)
        order by t.track_id""", {"own": list(OWN_METHODS), "special": list(SPECIAL_ARTISTS)})
    rows = cur.fetchall()
    catalogue = smoothing.Catalogue([r[0] for r in rows], np.array([r[1] for r in rows], dtype=int),
                                    np.array([r[2] for r in rows], dtype=int))
    index = catalogue.index()
    for model in knn_models:
        for a, b, sim in knn_edges(cur, model, k):
            if a in index and b in index:
                catalogue.edges.append((index[a], index[b], sim, "knn"))
    cur.execute("select src_track_id, dst_track_id, kind, weight from graph_edges where kind = any(%s)",
                ([kind for kind in smoothing.KIND_WEIGHTS if kind != "knn"],))
    for a, b, kind, weight in cur.fetchall():
        if a in index and b in index:
            catalogue.edges.append((index[a], index[b], float(weight), kind))
    return catalogue


def _replace(cur, method: str, scores: Mapping, contributions: list[tuple]) -> None:
    cur.execute("delete from score_contribution where method = %s", (method,))
    cur.execute("delete from mood_scores where method = %s", (method,))
    execute_values(cur, """insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                           values %s""",
                   [(t, axis, method, s.value, s.confidence, s.provenance) for (t, axis), s in scores.items()],
                   page_size=5000)
    execute_values(cur, """insert into score_contribution (track_id, axis, method, kind, name, contribution)
                           values %s""", contributions, page_size=5000)


def fuse_scores(conn) -> dict:
    """(Re)write `fused-v1` from the evidence methods; returns counts."""
    with conn.cursor() as cur:
        fused = fusion.fuse_all(load_evidence(cur))
        contributions = [(t, axis, fusion.METHOD, "method", method, c)
                         for (t, axis), s in fused.items() for method, c in s.contributions.items()]
        _replace(cur, fusion.METHOD, fused, contributions)
    return {"method": fusion.METHOD, "tracks": len({t for t, _ in fused}), "scores": len(fused),
            "by_provenance": dict(Counter(s.provenance for s in fused.values()))}


def smooth_scores(conn) -> dict:
    """(Re)write `smoothed-v1` for every catalogue track on every axis; returns counts, coverage."""
    report = smoothing.SmoothingReport()
    with conn.cursor() as cur:
        fused = fusion.fuse_all(load_evidence(cur))
        catalogue = load_catalogue(cur)
        smoothed = smoothing.smooth(catalogue, fused, AXES, report=report)
        contributions = [(t, axis, smoothing.METHOD, kind, name, c)
                         for (t, axis), s in smoothed.items() for (kind, name), c in s.contributions.items()]
        _replace(cur, smoothing.METHOD, smoothed, contributions)
        listened, covered = coverage(cur)
    return {"method": smoothing.METHOD, "tracks": report.tracks, "scores": len(smoothed),
            "edges": len(catalogue.edges),
            "by_provenance": dict(Counter(s.provenance for s in smoothed.values())),
            "listened_tracks": listened, "listened_tracks_covered": covered,
            "coverage": covered / listened if listened else 1.0,
            "iterations": dict(report.iterations), "converged": all(report.converged.values())}


def coverage(cur, method: str = smoothing.METHOD) -> tuple[int, int]:
    """(listened tracks, listened tracks with a `method` score on all ten axes)."""
    cur.execute("""
        with listened as (select distinct track_id from listen),
        scored as (select track_id, count(distinct axis) as axes from mood_scores
                   where method = %(m)s and axis = any(%(axes)s) group by track_id)
        select count(*), count(*) filter (where s.axes = %(n)s)
        from listened l left join scored s on s.track_id = l.track_id""",
                {"m": method, "axes": list(AXES), "n": len(AXES)})
    listened, covered = cur.fetchone()
    return int(listened), int(covered)


def hidden_audio_experiment(conn, fraction: float = 0.2, seed: int = 0, alpha_test: float = 0.01,
                            families: Mapping = fusion.EVIDENCE_FAMILIES) -> dict:
    """Hide the audio scores of `fraction` of the tracks that have them, fuse and smooth without
    them (in memory: nothing is written), and compare against the hidden audio values:

    * mae_smoothed: smoothed-v1 (graph + pooling) on the hidden tracks;
    * mae_baseline: the same without the graph (artist/release/global prior, plus any tag or
      lexicon evidence the track still has) — what you would have without smoothing.

    MAE over every (hidden track, axis). `improved` is claimed only when the smoothed MAE is lower
    AND a Wilcoxon signed-rank test on the per-track errors rejects "no difference" at
    `alpha_test` — so a graph whose neighbours are uninformative does not claim an improvement.
    """
    from scipy.stats import wilcoxon

    with conn.cursor() as cur:
        rows = load_evidence(cur, families)
        catalogue = load_catalogue(cur)
    audio = {}
    for t, axis, method, value, confidence in rows:
        if families and fusion.family_of(method, families) == "audio":
            key = (t, axis)
            if key not in audio or fusion._version_key(method) > fusion._version_key(audio[key][0]):
                audio[key] = (method, float(value))
    audio_tracks = sorted({t for t, _ in audio})
    n_hidden = int(round(fraction * len(audio_tracks)))
    hidden = set(random.Random(seed).sample(audio_tracks, n_hidden)) if n_hidden else set()
    kept = [r for r in rows if not (r[0] in hidden and fusion.family_of(r[2], families) == "audio")]
    fused = fusion.fuse_all(kept, families)
    smoothed = smoothing.smooth(catalogue, fused, AXES)
    baseline = smoothing.smooth(catalogue, fused, AXES, use_graph=False)

    err_s, err_b, per_track_s, per_track_b = [], [], {}, {}
    per_axis: dict[str, list[tuple[float, float]]] = {}
    for (t, axis), (_, truth) in audio.items():
        if t not in hidden or (t, axis) not in smoothed:
            continue
        es, eb = abs(smoothed[(t, axis)].value - truth), abs(baseline[(t, axis)].value - truth)
        err_s.append(es)
        err_b.append(eb)
        per_track_s.setdefault(t, []).append(es)
        per_track_b.setdefault(t, []).append(eb)
        per_axis.setdefault(axis, []).append((es, eb))
    result = {"hidden_tracks": len(hidden), "audio_tracks": len(audio_tracks), "pairs": len(err_s),
              "fraction": fraction, "seed": seed, "edges": len(catalogue.edges)}
    if not err_s:
        return {**result, "mae_smoothed": None, "mae_baseline": None, "improvement": None,
                "p_value": None, "improved": False, "per_axis": {}}
    mae_s, mae_b = float(np.mean(err_s)), float(np.mean(err_b))
    diffs = [np.mean(per_track_b[t]) - np.mean(per_track_s[t]) for t in per_track_s]
    if len(diffs) >= 5 and any(abs(d) > 1e-12 for d in diffs):
        p_value = float(wilcoxon(diffs, alternative="greater").pvalue)
    else:
        p_value = 1.0
    return {**result, "mae_smoothed": mae_s, "mae_baseline": mae_b, "improvement": mae_b - mae_s,
            "relative_improvement": (mae_b - mae_s) / mae_b if mae_b > 0 else 0.0,
            "p_value": p_value, "improved": bool(mae_s < mae_b and p_value < alpha_test),
            "per_axis": {axis: {"mae_smoothed": float(np.mean([e[0] for e in v])),
                                "mae_baseline": float(np.mean([e[1] for e in v]))}
                         for axis, v in per_axis.items()}}
