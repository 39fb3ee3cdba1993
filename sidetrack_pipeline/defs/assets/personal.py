"""Personal scores: each user's calibrated vibe axes, learned from their own labels."""

import dagster as dg

from sidetrack_pipeline.defs.assets.sources import users_partitions
from sidetrack_pipeline.defs.resources import DatabaseResource


@dg.asset(group_name="scoring", partitions_def=users_partitions, deps=["mood_scores", "learned_embeddings"],
          kinds={"python", "postgres"})
def personal_scores(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Per user (partition) and labelled axis: a ridge correction of the generic axis from the
    track vectors, calibrated into 0–1, fitted on the user's labels (`labels_user`), with a
    confidence per track (method `personal-v1`, into `user_axis_model` and `user_track_scores`).
    Axes with fewer than 8 labels are not fitted; see scoring/calibration.py."""
    from sidetrack_pipeline.scoring.calibration import METHOD
    from sidetrack_pipeline.scoring.calibration_store import calibrate_user

    with database.connect() as conn:
        report = calibrate_user(conn, context.partition_key)
    context.log.info(report.summary())
    metadata: dict = {"method": METHOD, "feature_blocks": ", ".join(report.feature_blocks) or "none"}
    for axis, r in report.axes.items():
        if r.fitted:
            m = r.metrics
            metadata[axis] = (f"{r.n_labels} labels; CV MAE generic {m['cv_mae_generic']:.3f}, "
                              f"raw {m['cv_mae_raw']:.3f}, calibrated {m['cv_mae_calibrated']:.3f} "
                              f"({m['calibration']})")
            metadata[f"{axis}_cv_mae_calibrated"] = float(m["cv_mae_calibrated"])
        else:
            metadata[axis] = f"not enough labels: {r.reason}"
    if not report.axes:
        metadata["axes"] = "no labels yet (sidetrack labels suggest / add)"
    return dg.MaterializeResult(metadata=metadata)
