"""Weekly mixtapes: for each user who listened in a local week, 60-90 minutes from that week's
dominant HDBSCAN cluster (sidetrack_pipeline/analytics/mixtape.py) → tables mixtape, mixtape_track."""

import dagster as dg
import pandas as pd

from sidetrack_pipeline.analytics import mixtape
from sidetrack_pipeline.defs.assets.analysis import audio_features
from sidetrack_pipeline.defs.assets.clusters import LISTENS, cluster_weeks, track_clusters
from sidetrack_pipeline.defs.assets.library import track_files
from sidetrack_pipeline.defs.partitions import WEEKLY_TAGS, iso_week, weekly_partitions, window_dates
from sidetrack_pipeline.defs.resources import DatabaseResource


class MixtapeConfig(dg.Config):
    minutes: float = 75.0   # target length; the result always stays within 60-90 minutes
    seed: int = 0


@dg.asset(group_name="analytics", kinds={"python", "postgres"},
          deps=[cluster_weeks, track_clusters, LISTENS, audio_features, track_files],
          partitions_def=weekly_partitions, backfill_policy=dg.BackfillPolicy.single_run(), tags=WEEKLY_TAGS)
def weekly_mixtapes(context: dg.AssetExecutionContext, config: MixtapeConfig,
                    database: DatabaseResource) -> dg.MaterializeResult:
    """Per user and local week (this run's partitions): the mixtape `sidetrack mixtape` would make
    (k-medoids with a diversity penalty over the dominant cluster, ordered for flow), or a
    'skipped' row saying why none could be made (e.g. less than 60 minutes of local music in the
    cluster). Re-materialising a week replaces its rows."""
    first, end = window_dates(context)
    made, skipped = [], []
    with database.connect() as conn:
        with conn.cursor() as cur:
            cur.execute("""select distinct l.week, l.user_id, u.user_name from intermediate.int_listens_local l
                           join users u using (user_id) where l.week >= %s and l.week < %s order by 1, 2""",
                        (first, end))
            user_weeks = cur.fetchall()
            cur.execute("delete from mixtape where method = %s and week >= %s and week < %s",
                        (mixtape.METHOD, first, end))
        for monday, user_id, user_name in user_weeks:
            try:
                mix = mixtape.build_mixtape(conn, user_name, iso_week(monday), minutes=config.minutes,
                                            seed=config.seed)
            except mixtape.MixtapeError as exc:
                mixtape.save_skipped(conn, user_id, monday, str(exc), config.minutes)
                skipped.append((user_name, str(monday), str(exc)))
                continue
            mixtape.save_mixtape(conn, user_id, mix, config.minutes)
            made.append((user_name, str(monday), len(mix.tracks), round(mix.total_s / 60, 1), mix.cluster))
    reasons = pd.Series([r for _, _, r in skipped]).str.replace(r"\d+", "N", regex=True).value_counts()
    return dg.MaterializeResult(metadata={
        "method": mixtape.METHOD, "weeks": f"{first} .. {end} (end excluded)",
        "mixtapes": len(made), "skipped": len(skipped),
        "skip_reasons": {str(k): int(v) for k, v in reasons.items()},
        "latest": dg.MetadataValue.md("\n".join(
            ["| user | week | tracks | minutes | cluster |", "|---|---|---|---|---|"]
            + [f"| {u} | {w} | {n} | {m} | {c} |" for u, w, n, m, c in made[-10:]])),
    })
