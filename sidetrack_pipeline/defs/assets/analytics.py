"""Analytics over the marts: the taste map (`track_projection`, one global UMAP) and each week's
position on it (`taste_trajectory`, weekly partitions)."""


import dagster as dg
import numpy as np
import pandas as pd
from psycopg2.extras import execute_values

from sidetrack_pipeline.analytics import trajectory
from sidetrack_pipeline.defs.assets.analysis import track_vectors
from sidetrack_pipeline.defs.assets.dbt import model_key
from sidetrack_pipeline.defs.partitions import WEEKLY_TAGS, weekly_partitions, window_dates
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import vectors
from sidetrack_pipeline.settings import get_settings

LISTENS = model_key("int_listens_local")


def _coords(cur) -> pd.DataFrame:
    cur.execute("select track_id, x, y from track_projection where method = %s", (trajectory.METHOD,))
    return pd.DataFrame(cur.fetchall(), columns=["track_id", "x", "y"])


def _write_weeks(cur, weeks: pd.DataFrame, first=None, end=None) -> None:
    """Replace the taste_trajectory_week rows of the local weeks with Monday in [first, end)
    (every week without bounds) by `weeks`."""
    cur.execute("delete from taste_trajectory_week where method = %s and (%s::date is null or week >= %s)"
                " and (%s::date is null or week < %s)", (trajectory.METHOD, first, first, end, end))
    if len(weeks):
        execute_values(cur, "insert into taste_trajectory_week (user_id, week, method, x, y, listens) values %s",
                       [(int(r.user_id), r.week, trajectory.METHOD, float(r.x), float(r.y), int(r.listens))
                        for r in weeks.itertuples(index=False)])


def _restate_stored_weeks(cur, coords: pd.DataFrame) -> int:
    """After a refit every track moved: re-place the weeks already stored on the new map, so the
    trajectory never mixes two maps (weeks not yet materialised stay absent)."""
    cur.execute("select count(*) from taste_trajectory_week where method = %s", (trajectory.METHOD,))
    if not cur.fetchone()[0]:
        return 0
    cur.execute("""select l.user_id, l.track_id, l.week from intermediate.int_listens_local l
                   join (select distinct user_id, week from taste_trajectory_week where method = %s) s
                   using (user_id, week)""", (trajectory.METHOD,))
    listens = pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week"])
    weeks = trajectory.weekly_positions(listens, coords)
    _write_weeks(cur, weeks)
    return len(weeks)


@dg.asset(group_name="analytics", kinds={"python", "umap"}, deps=[track_vectors, LISTENS])
def track_projection(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """UMAP (fixed seed) over the standardised track vectors → `track_projection` (the taste map,
    one for the whole library: unpartitioned).

    The fitted map is pickled to $SIDETRACK_HOME/models/umap-<hash>.pkl and reused (new tracks
    placed with `transform`, old ones keep their positions) until > 20 % of the tracks are new
    since the fit or the vector model changes; the fit's metadata goes to `projection_fit`. After
    a refit the weeks already in `taste_trajectory_week` are re-placed on the new map."""
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("select track_id, embedding::text from embeddings where model = %s order by track_id",
                    (vectors.MODEL,))
        rows = cur.fetchall()
        if len(rows) < 3:
            raise dg.Failure(f"only {len(rows)} analysed tracks: a taste map needs at least 3")
        track_ids = [r[0] for r in rows]
        matrix = np.array([[float(x) for x in r[1].strip("[]").split(",")] for r in rows])
        path = trajectory.model_path(get_settings().home / "models", vectors.MODEL)
        taste_map, xy, refit = trajectory.update(trajectory.load(path), track_ids, matrix, vectors.MODEL)
        trajectory.save(taste_map, path)
        coords = pd.DataFrame({"track_id": track_ids, "x": xy[:, 0], "y": xy[:, 1]})
        cur.execute("delete from track_projection where method = %s", (trajectory.METHOD,))
        execute_values(cur, "insert into track_projection (track_id, method, x, y, fitted_at) values %s",
                       [(int(t), trajectory.METHOD, float(x), float(y), taste_map.fitted_at)
                        for t, x, y in coords.itertuples(index=False)])
        cur.execute("""insert into projection_fit (method, vector_model, n_tracks, fitted_at, model_file, last_decision)
                       values (%s, %s, %s, %s, %s, %s)
                       on conflict (method) do update set vector_model = excluded.vector_model,
                           n_tracks = excluded.n_tracks, fitted_at = excluded.fitted_at,
                           model_file = excluded.model_file, last_decision = excluded.last_decision,
                           updated_at = now()""",
                    (trajectory.METHOD, taste_map.vector_model, taste_map.n_fitted, taste_map.fitted_at, str(path),
                     f"refit: {refit}" if refit else "reused the fitted map"))
        restated = _restate_stored_weeks(cur, coords) if refit else 0
    return dg.MaterializeResult(metadata={
        "method": trajectory.METHOD, "tracks_projected": len(track_ids),
        "refitted": refit is not None, "refit_reason": refit or "reused the fitted map",
        "fit_tracks": taste_map.n_fitted, "fit_vector_model": taste_map.vector_model,
        "fitted_at": taste_map.fitted_at.isoformat(), "model_file": str(path),
        "stored_weeks_replaced": restated,
    })


@dg.asset(group_name="analytics", kinds={"python"}, deps=[track_projection, LISTENS],
          partitions_def=weekly_partitions, backfill_policy=dg.BackfillPolicy.single_run(), tags=WEEKLY_TAGS)
def taste_trajectory(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Each user's local week (those of this run's partitions) = the listen-weighted mean position
    of that week's tracks on the taste map → `taste_trajectory_week` (that week's rows replaced).
    Weeks come from dbt (`int_listens_local`), so they follow each user's time zone.
    Week-to-week arrows: the `taste_trajectory_step` view (and this asset's metadata)."""
    first, end = window_dates(context)
    with database.connect() as conn, conn.cursor() as cur:
        coords = _coords(cur)
        if coords.empty:
            raise dg.Failure("track_projection is empty: materialise `track_projection` first")
        cur.execute("select user_id, track_id, week from intermediate.int_listens_local where week >= %s and week < %s",
                    (first, end))
        listens = pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week"])
        weeks = trajectory.weekly_positions(listens, coords)
        _write_weeks(cur, weeks, first, end)
        cur.execute("""select user_id, week_from, week, dx, dy, step from taste_trajectory_step
                       where method = %s and week >= %s and week < %s order by user_id, week""",
                    (trajectory.METHOD, first, end))
        arrows = pd.DataFrame(cur.fetchall(), columns=["user_id", "week_from", "week_to", "dx", "dy", "step"])
    arrows = arrows.groupby("user_id").tail(52)
    return dg.MaterializeResult(metadata={
        "method": trajectory.METHOD, "weeks": f"{first} .. {end} (end excluded)", "user_weeks": len(weeks),
        "mean_weekly_step": float(arrows["step"].mean()) if len(arrows) else 0.0,
        "weekly_arrows": dg.TableMetadataValue(
            records=[dg.TableRecord({"user_id": int(a.user_id), "week_from": str(a.week_from),
                                     "week_to": str(a.week_to), "dx": float(a.dx), "dy": float(a.dy),
                                     "step": float(a.step)}) for a in arrows.itertuples(index=False)],
            schema=dg.TableSchema(columns=[dg.TableColumn("user_id", "int"), dg.TableColumn("week_from", "string"),
                                           dg.TableColumn("week_to", "string"), dg.TableColumn("dx", "float"),
                                           dg.TableColumn("dy", "float"), dg.TableColumn("step", "float")])),
    })
