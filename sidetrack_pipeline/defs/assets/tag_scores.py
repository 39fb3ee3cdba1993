"""Vibe scores from web tags (method `tags-v1`): the scores of listened tracks without audio."""

import dagster as dg

from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import tag_scoring, tag_store


@dg.asset(group_name="scoring", deps=["lastfm_tags", "musicbrainz_metadata"],
          kinds={"python", "postgres"})
def tag_mood_scores(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Last.fm and MusicBrainz tags of each track (and, with half the weight, of its artist),
    TF-IDF weighted and mapped through `tag_axis_map` (curated seed, its spellings and qualified
    forms, MiniLM similarity for the rest) into 0–1 axis values with a confidence:
    `mood_scores` method `tags-v1`, provenance 'tags', one `score_contribution` row per tag. Formula in docs/axes.md ("Web tags (tags-v1)")."""
    with database.connect() as conn:
        mapped = tag_store.build_tag_axis_map(conn)
        scored = tag_store.score_tracks_from_tags(conn)
    context.log.info(f"tags-v1: {scored.tracks_scored} tracks scored; tags mapped by seed "
                     f"{mapped.by_seed}, by similarity {mapped.by_similarity}, "
                     f"unmapped {len(mapped.unmapped)}")
    return dg.MaterializeResult(metadata={
        "method": tag_scoring.METHOD,
        "tracks_scored": scored.tracks_scored,
        "tracks_with_tags": scored.tracks_with_tags,
        "scores": scored.scores,
        "tags_mapped_by_seed": mapped.by_seed,
        "tags_mapped_by_head_rule": mapped.by_head,
        "tags_mapped_by_similarity": mapped.by_similarity,
        "tags_unmapped": len(mapped.unmapped),
        "unmapped_examples": ", ".join(mapped.unmapped[:20]),
    })
