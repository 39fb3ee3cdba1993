"""Analytics over the marts: the 2-D taste trajectory."""


import dagster as dg
import numpy as np
import pandas as pd
from dagster_dbt import get_asset_key_for_model
from psycopg2.extras import execute_values

from sidetrack_pipeline.analytics import trajectory
from sidetrack_pipeline.defs.assets.analysis import track_vectors
from sidetrack_pipeline.defs.assets.dbt import sidetrack_dbt_models
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import vectors
from sidetrack_pipeline.settings import get_settings


@dg.asset(group_name="analytics", kinds={"python", "umap"},
          deps=[track_vectors, get_asset_key_for_model([sidetrack_dbt_models], "int_listens_local")])
def taste_trajectory(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """UMAP (fixed seed) over the standardised track vectors → `track_projection`; each user's
    week = the listen-weighted mean position of that week's tracks → `taste_trajectory_week`.
    Weeks come from dbt (`int_listens_local`), so they follow each user's time zone.

    The fitted map is pickled to $SIDETRACK_HOME/models/umap-<hash>.pkl and reused (new tracks
    placed with `transform`, old ones keep their positions) until > 20 % of the tracks are new
    since the fit or the vector model changes; the fit's metadata goes to `projection_fit`.
    Week-to-week arrows: the `taste_trajectory_step` view (and this asset's metadata)."""
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
        cur.execute("select user_id, track_id, week from intermediate.int_listens_local")
        listens = pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week"])
        weeks = trajectory.weekly_positions(listens, coords)
        arrows = trajectory.weekly_arrows(weeks).groupby("user_id").tail(52)  # the full set: taste_trajectory_step

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
        cur.execute("delete from taste_trajectory_week where method = %s", (trajectory.METHOD,))
        execute_values(cur, "insert into taste_trajectory_week (user_id, week, method, x, y, listens) values %s",
                       [(int(r.user_id), r.week, trajectory.METHOD, float(r.x), float(r.y), int(r.listens))
                        for r in weeks.itertuples(index=False)])
    return dg.MaterializeResult(metadata={
        "method": trajectory.METHOD, "tracks_projected": len(track_ids), "user_weeks": len(weeks),
        "refitted": refit is not None, "refit_reason": refit or "reused the fitted map",
        "fit_tracks": taste_map.n_fitted, "fit_vector_model": taste_map.vector_model,
        "fitted_at": taste_map.fitted_at.isoformat(), "model_file": str(path),
        "mean_weekly_step": float(arrows["step"].mean()) if len(arrows) else 0.0,
        "weekly_arrows": dg.TableMetadataValue(
            records=[dg.TableRecord({"user_id": int(a.user_id), "week_from": str(a.week_from),
                                     "week_to": str(a.week_to), "dx": float(a.dx), "dy": float(a.dy),
                                     "step": float(a.step)}) for a in arrows.itertuples(index=False)],
            schema=dg.TableSchema(columns=[dg.TableColumn("user_id", "int"), dg.TableColumn("week_from", "string"),
                                           dg.TableColumn("week_to", "string"), dg.TableColumn("dx", "float"),
                                           dg.TableColumn("dy", "float"), dg.TableColumn("step", "float")])),
    })
