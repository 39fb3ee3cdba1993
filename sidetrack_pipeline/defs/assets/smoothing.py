"""Fused and smoothed vibe scores: `fused-v1` from every evidence method, then `smoothed-v1` over
the track graph so every listened track has all ten axes (docs/axes.md, "Fusion and smoothing")."""

import dagster as dg

from sidetrack_pipeline.defs.assets.scoring import mood_scores
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import smoothing_store


def _provenance_metadata(counts: dict) -> dict:
    return {f"provenance_{k}": int(v) for k, v in sorted(counts.items())}


@dg.asset(group_name="scoring", deps=[mood_scores, "tag_mood_scores", "lexicon_scores"],
          kinds={"python", "postgres"})
def fused_scores(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """`fused-v1`: per track and axis, the confidence × reliability weighted mean of the evidence
    methods (audio mir-v*, tags-v*, zeroshot-*), with provenance and per-method contributions."""
    with database.connect() as conn:
        report = smoothing_store.fuse_scores(conn)
    return dg.MaterializeResult(metadata={"method": report["method"], "tracks": report["tracks"],
                                          "scores": report["scores"],
                                          **_provenance_metadata(report["by_provenance"])})


@dg.asset(group_name="scoring", deps=[fused_scores, "track_graph", "learned_embeddings"],
          kinds={"python", "postgres", "pgvector"})
def smoothed_scores(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """`smoothed-v1`: fused evidence pooled per artist/release (empirical Bayes) and propagated over
    audio k-nearest neighbours + MusicBrainz relations; every listened track gets all ten axes."""
    with database.connect() as conn:
        report = smoothing_store.smooth_scores(conn)
    if report["coverage"] < 1.0:
        context.log.warning(f"coverage {report['coverage']:.3f}: some listened tracks lack axes")
    return dg.MaterializeResult(metadata={
        "method": report["method"], "tracks": report["tracks"], "scores": report["scores"],
        "edges": report["edges"], "listened_tracks": report["listened_tracks"],
        "coverage": float(report["coverage"]), "converged": report["converged"],
        **_provenance_metadata(report["by_provenance"])})
