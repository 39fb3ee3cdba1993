"""Track clusters (`track_clusters` -> track_cluster, cluster_week) and listening outliers
(`listening_outliers` -> listening_outlier); see sidetrack_pipeline/analytics/clusters.py."""

import dagster as dg
import numpy as np
import pandas as pd
from dagster_dbt import get_asset_key_for_model
from psycopg2.extras import execute_values

from sidetrack_pipeline.analytics import clusters
from sidetrack_pipeline.defs.assets.analysis import track_vectors
from sidetrack_pipeline.defs.assets.dbt import sidetrack_dbt_models
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import vectors

LISTENS = get_asset_key_for_model([sidetrack_dbt_models], "int_listens_local")
TOP_OUTLIERS = 10


def _load(cur) -> tuple[list[int], np.ndarray, pd.DataFrame]:
    cur.execute("select track_id, embedding::text from embeddings where model = %s order by track_id",
                (vectors.MODEL,))
    rows = cur.fetchall()
    if len(rows) < 3:
        raise dg.Failure(f"only {len(rows)} analysed tracks: clustering needs at least 3")
    matrix = np.array([[float(x) for x in r[1].strip("[]").split(",")] for r in rows])
    cur.execute("select user_id, track_id, week, played_at from intermediate.int_listens_local")
    listens = pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week", "played_at"])
    return [r[0] for r in rows], matrix, listens


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
    """HDBSCAN over the standardised `mir-v1` vectors (min cluster size 1 % of the library, >= 5);
    each user's week gets its dominant (most-listened, non-noise) cluster."""
    with database.connect() as conn, conn.cursor() as cur:
        track_ids, matrix, listens = _load(cur)
        labels = clusters.cluster_tracks(matrix)
        frame = pd.DataFrame({"track_id": track_ids, "cluster": labels})
        weeks = clusters.dominant_clusters(listens[["user_id", "track_id", "week"]], frame)
        cur.execute("delete from track_cluster where method = %s", (clusters.METHOD,))
        execute_values(cur, "insert into track_cluster (track_id, method, cluster) values %s",
                       [(int(t), clusters.METHOD, int(c)) for t, c in zip(track_ids, labels)])
        cur.execute("delete from cluster_week where method = %s", (clusters.METHOD,))
        if len(weeks):
            execute_values(cur, "insert into cluster_week (user_id, week, method, cluster, share) values %s",
                           [(int(r.user_id), r.week, clusters.METHOD, int(r.cluster), float(r.share))
                            for r in weeks.itertuples(index=False)])
    sizes = frame[frame.cluster != clusters.NOISE].groupby("cluster").size()
    return dg.MaterializeResult(metadata={
        "vector_model": vectors.MODEL, "tracks": len(track_ids), "clusters": int(len(sizes)),
        "noise_tracks": int((labels == clusters.NOISE).sum()),
        "min_cluster_size": clusters.min_cluster_size(len(track_ids)),
        "cluster_sizes": {str(k): int(v) for k, v in sizes.items()},
        "user_weeks": len(weeks), "latest_weeks": _table(weeks.sort_values("week").groupby("user_id").tail(4)),
    })


@dg.asset(group_name="analytics", kinds={"python"}, deps=[track_vectors, LISTENS])
def listening_outliers(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Per user, the tracks farthest from the listen-weighted centroid of their last 90 days
    (z-scored distance in the standardised vector space), top 10."""
    with database.connect() as conn, conn.cursor() as cur:
        track_ids, matrix, listens = _load(cur)
        found = clusters.outliers(listens[["user_id", "track_id", "played_at"]], track_ids, matrix,
                                  top_n=TOP_OUTLIERS)
        cur.execute("delete from listening_outlier where method = %s", (clusters.METHOD,))
        if len(found):
            execute_values(cur, """insert into listening_outlier
                                   (user_id, track_id, method, window_end, distance, z, rank) values %s""",
                           [(int(r.user_id), int(r.track_id), clusters.METHOD, r.window_end, float(r.distance),
                             float(r.z), int(r.rank)) for r in found.itertuples(index=False)])
    return dg.MaterializeResult(metadata={
        "vector_model": vectors.MODEL, "window_days": clusters.OUTLIER_WINDOW_DAYS,
        "users": int(found["user_id"].nunique()),
        "outliers": _table(found.drop(columns="window_end")),
    })
