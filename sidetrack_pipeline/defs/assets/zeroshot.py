"""Zero-shot lexicon scores (methods zeroshot-musicnn-v1 / zeroshot-clap-v1), after the learned
embeddings: the domain code is `sidetrack_pipeline.scoring.zeroshot` and `zeroshot_store`."""

import dagster as dg

from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring.zeroshot_store import score_lexicon


@dg.asset(group_name="scoring", deps=["learned_embeddings"], kinds={"python", "postgres"})
def lexicon_scores(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """How well each lexicon word (20 seed words + LEXICON_EXTRA_WORDS / LEXICON_FILE) describes
    each track, from the musicnn tag probabilities (and CLAP audio embeddings when CLAP is
    configured), calibrated to 0–1 (`lexicon_scores`); the axes the words inform as
    `mood_scores` rows with provenance 'lexicon'; top words and tags per axis in
    `score_contribution`. Re-running replaces the method's rows."""
    with database.connect() as conn:
        report = score_lexicon(conn)
    for reason in report.skipped:
        context.log.info(reason)
    metadata: dict = {f"tracks_scored/{m}": n for m, n in report.tracks_scored.items()}
    metadata["tracks_scored"] = max(report.tracks_scored.values(), default=0)
    metadata["reference"] = ", ".join(f"{m}: {r}" for m, r in report.reference.items()) or "none"
    for method, means in report.word_means.items():
        metadata[f"word_mean/{method}"] = dg.MetadataValue.json(means)
        metadata[f"axes/{method}"] = ", ".join(report.axes.get(method, [])) or "none"
    if report.skipped:
        metadata["skipped"] = "; ".join(report.skipped)
    return dg.MaterializeResult(metadata=metadata)
