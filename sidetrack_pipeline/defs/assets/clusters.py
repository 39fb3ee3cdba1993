"""Track clusters (`track_clusters` -> track_cluster, one HDBSCAN over the library: unpartitioned),
each week's dominant cluster (`cluster_weeks` -> cluster_week, weekly partitions) and listening
outliers as of each week's end (`listening_outliers` -> listening_outlier, weekly partitions);
see sidetrack_pipeline/analytics/clusters.py."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
from psycopg2.extras import execute_values

from sidetrack_pipeline.analytics import clusters
from sidetrack_pipeline.defs.assets.analysis import track_vectors
from sidetrack_pipeline.defs.assets.dbt import model_key
from sidetrack_pipeline.defs.partitions import WEEKLY_TAGS, mondays, weekly_partitions, window_dates
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import vectors

LISTENS = model_key("int_listens_local")
TOP_OUTLIERS = 10


def _vectors(cur):
    track_ids, matrix = clusters.load_vectors(cur, vectors.MODEL)
    if len(track_ids) < 3:
        raise dg.Failure(f"only {len(track_ids)} analysed tracks: clustering needs at least 3")
    return track_ids, matrix


def _week_listens(cur, first: dt.date, end: dt.date, where: str = "week >= %s and week < %s",
                  args: tuple = ()) -> pd.DataFrame:
    cur.execute(f"""select user_id, track_id, week, played_at, timezone from intermediate.int_listens_local
                    where {where}""", args or (first, end))
    return pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week", "played_at", "timezone"])


def _table(frame: pd.DataFrame) -> dg.TableMetadataValue:
    frame = frame.infer_objects()
    kinds = {"i": "int", "f": "float"}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, kinds.get(frame[c].dtype.kind, "string"))
                                     for c in frame.columns])
    convert = {c: {"i": int, "f": float}.get(frame[c].dtype.kind, str) for c in frame.columns}
    records = [dg.TableRecord({c: convert[c](v) for c, v in rec.items()}) for rec in frame.to_dict("records")]
    return dg.TableMetadataValue(records=records, schema=schema)


@dg.asset(group_name="analytics", kinds={"python", "sklearn"}, deps=[track_vectors, LISTENS])
def track_clusters(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """HDBSCAN over the standardised `mir-v1` vectors (min cluster size 1 % of the library, >= 5)
    → `track_cluster`. When the labelling changed, the weeks already in `cluster_week` are
    re-derived from the new labels (so stored weeks never name clusters that no longer exist)."""
    with database.connect() as conn, conn.cursor() as cur:
        track_ids, matrix = _vectors(cur)
        labels = clusters.cluster_tracks(matrix)
        changed = clusters.write_track_clusters(cur, track_ids, labels)
        restated = 0
        cur.execute("select min(week), max(week) from cluster_week where method = %s", (clusters.METHOD,))
        lo, hi = cur.fetchone()
        if changed and lo is not None:
            stored = _week_listens(cur, lo, hi, """(user_id, week) in (select user_id, week from cluster_week
                                                   where method = %s)""", (clusters.METHOD,))
            frame = pd.DataFrame({"track_id": track_ids, "cluster": labels})
            weeks = clusters.dominant_clusters(stored[["user_id", "track_id", "week"]], frame)
            cur.execute("delete from cluster_week where method = %s", (clusters.METHOD,))
            restated = clusters.write_cluster_weeks(cur, weeks, lo, hi + dt.timedelta(days=7))
    frame = pd.DataFrame({"track_id": track_ids, "cluster": labels})
    sizes = frame[frame.cluster != clusters.NOISE].groupby("cluster").size()
    return dg.MaterializeResult(metadata={
        "vector_model": vectors.MODEL, "tracks": len(track_ids), "clusters": int(len(sizes)),
        "noise_tracks": int((labels == clusters.NOISE).sum()),
        "min_cluster_size": clusters.min_cluster_size(len(track_ids)),
        "cluster_sizes": {str(k): int(v) for k, v in sizes.items()},
        "labelling_changed": changed, "stored_weeks_replaced": restated,
    })


@dg.asset(group_name="analytics", kinds={"python"}, deps=[track_clusters, LISTENS],
          partitions_def=weekly_partitions, backfill_policy=dg.BackfillPolicy.single_run(), tags=WEEKLY_TAGS)
def cluster_weeks(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Each user's local week (this run's partitions): its dominant (most-listened, non-noise)
    HDBSCAN cluster and that cluster's listen share → `cluster_week` (the weeks' rows replaced)."""
    first, end = window_dates(context)
    with database.connect() as conn, conn.cursor() as cur:
        labels = clusters.stored_labels(cur)
        if labels.empty:
            raise dg.Failure("track_cluster is empty: materialise `track_clusters` first")
        listens = _week_listens(cur, first, end)
        weeks = clusters.dominant_clusters(listens[["user_id", "track_id", "week"]], labels)
        written = clusters.write_cluster_weeks(cur, weeks, first, end)
    return dg.MaterializeResult(metadata={
        "method": clusters.METHOD, "weeks": f"{first} .. {end} (end excluded)", "user_weeks": written,
        "noise_weeks": int((weeks["cluster"] == clusters.NOISE).sum()),
        "latest_weeks": _table(weeks.sort_values("week").groupby("user_id").tail(4)),
    })


@dg.asset(group_name="analytics", kinds={"python"}, deps=[track_vectors, LISTENS],
          partitions_def=weekly_partitions, backfill_policy=dg.BackfillPolicy.single_run(), tags=WEEKLY_TAGS)
def listening_outliers(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """For each user who listened in a local week (this run's partitions): the tracks farthest from
    the listen-weighted centroid of the 90 days up to the end of that week (z-scored distance in
    the standardised vector space), top 10 → `listening_outlier` (the weeks' rows replaced)."""
    first, end = window_dates(context)
    with database.connect() as conn, conn.cursor() as cur:
        track_ids, matrix = _vectors(cur)
        # the window of the first week reaches 90 days back (a day more for time zones)
        since = dt.datetime.combine(first - dt.timedelta(days=clusters.OUTLIER_WINDOW_DAYS + 1), dt.time(),
                                    dt.timezone.utc)
        listens = _week_listens(cur, first, end, "played_at >= %s and week < %s", (since, end))
        listens["played_at"] = pd.to_datetime(listens["played_at"], utc=True)
        listens = listens.sort_values("played_at", kind="stable").reset_index(drop=True)
        pairs = listens[["week", "user_id", "timezone"]].drop_duplicates(["week", "user_id"])
        users_of_week = {week: group for week, group in pairs.groupby("week")}
        frames = []
        for monday in mondays(first, end):
            if monday not in users_of_week:
                continue
            ends = {int(u): dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), ZoneInfo(tz))
                    for _, u, tz in users_of_week[monday].itertuples(index=False)}
            # only the listens that can fall in a 90-day window ending this week (by UTC bounds)
            lo, hi = listens["played_at"].searchsorted(
                [pd.Timestamp(monday - dt.timedelta(days=clusters.OUTLIER_WINDOW_DAYS + 2), tz="UTC"),
                 pd.Timestamp(monday + dt.timedelta(days=9), tz="UTC")])
            found = clusters.outliers(listens.iloc[lo:hi][["user_id", "track_id", "played_at"]], track_ids,
                                      matrix, top_n=TOP_OUTLIERS, ends=ends)
            frames.append(found.assign(week=monday))
        found = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["user_id", "track_id", "window_end", "distance", "z", "rank", "week"])
        cur.execute("delete from listening_outlier where method = %s and week >= %s and week < %s",
                    (clusters.METHOD, first, end))
        if len(found):
            execute_values(cur, """insert into listening_outlier
                                   (user_id, week, track_id, method, window_end, distance, z, rank) values %s""",
                           [(int(r.user_id), r.week, int(r.track_id), clusters.METHOD, r.window_end,
                             float(r.distance), float(r.z), int(r.rank)) for r in found.itertuples(index=False)])
    latest = found[found["week"] == found.groupby("user_id")["week"].transform("max")] if len(found) else found
    return dg.MaterializeResult(metadata={
        "vector_model": vectors.MODEL, "window_days": clusters.OUTLIER_WINDOW_DAYS,
        "weeks": f"{first} .. {end} (end excluded)",
        "user_weeks": int(found[["user_id", "week"]].drop_duplicates().shape[0]),
        "users": int(found["user_id"].nunique()),
        "latest_outliers": _table(latest.drop(columns="window_end").astype({"week": str})),
    })
