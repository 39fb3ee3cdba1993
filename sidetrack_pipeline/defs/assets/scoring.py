"""Mood scores: the ten vibe axes per track."""


import dagster as dg

from sidetrack_pipeline.defs.assets.analysis import audio_features
from sidetrack_pipeline.defs.assets.stems import stem_pumpiness_scores
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import axes, store


@dg.asset(group_name="scoring", deps=[audio_features, stem_pumpiness_scores], kinds={"python", "postgres"})
def mood_scores(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Energy, valence, danceability, brightness, rhythmic complexity, pumpiness, texture density,
    stereo size, tempo and mode confidence (0–1, with a confidence each), method `mir-v2`,
    provenance `audio`, per-feature contributions in `score_contribution`; formulas in
    docs/axes.md."""
    with database.connect() as conn, conn.cursor() as cur:
        scored = store.score_all(cur)
        cur.execute("select axis, avg(value), min(value), max(value) from mood_scores "
                    "where method = %s group by axis order by axis", (axes.METHOD,))
        summary = {axis: f"mean {m:.2f} [{lo:.2f}, {hi:.2f}]" for axis, m, lo, hi in cur.fetchall()}
    return dg.MaterializeResult(metadata={"method": axes.METHOD, "tracks_scored": scored, **summary})
