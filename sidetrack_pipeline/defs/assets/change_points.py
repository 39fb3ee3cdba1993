"""Change-points: the PELT detector as an asset, and an alert sensor for new change-points.

`change_point_detection` (PELT over mart_mood_week) feeds dbt's mart_change_points, which unions it
with the SQL CUSUM. `change_point_alert_sensor` reports change-points of that mart not reported
before: a log line, a `change_point_alert` row each, and a JSON POST to CHANGE_POINT_WEBHOOK_URL
when that is set. Registration (Definitions, the dbt source key) is left to defs/__init__.py.
"""

import os

import dagster as dg

from sidetrack_pipeline.analytics import change_point_store, change_points
from sidetrack_pipeline.defs.assets.dbt import model_key
from sidetrack_pipeline.defs.resources import DatabaseResource

WEBHOOK_ENV = "CHANGE_POINT_WEBHOOK_URL"


@dg.asset(group_name="analytics", kinds={"python", "postgres"},
          key=dg.AssetKey(["sidetrack_change_points", "change_point_detection"]),
          deps=[model_key("mart_mood_week")])
def change_point_detection(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """PELT (Gaussian mean-shift cost, penalty var('pelt_penalty') * ln n) on each user's weekly
    energy/valence means → table `change_point_detection` (method 'pelt-v1')."""
    settings = change_point_store.dbt_vars()
    with database.connect() as conn:
        written = change_point_store.detect_pelt(conn, settings)
    context.log.info(f"PELT: {written} change-points")
    return dg.MaterializeResult(metadata={"method": change_points.PELT_METHOD, "change_points": written,
                                          "penalty": float(settings["pelt_penalty"])})


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Alerts on change-points of mart_change_points not reported before (log, "
                       "change_point_alert rows, optional JSON webhook CHANGE_POINT_WEBHOOK_URL).")
def change_point_alert_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
    url = os.environ.get(WEBHOOK_ENV)
    # One transaction: when the webhook fails, the alert rows roll back and the next tick retries.
    with database.connect() as conn:
        alerts = change_point_store.new_alerts(conn)
        for a in alerts:
            context.log.info(f"change-point: {a['user']} {a['axis']} {a['direction']} from {a['week']} "
                             f"({a['magnitude']:+.3f}, {a['method']})")
        if alerts and url:
            change_point_store.post_webhook(url, alerts)
    if not alerts:
        return dg.SkipReason("no new change-points")
    return dg.SkipReason(f"{len(alerts)} new change-points reported" + (" (webhook posted)" if url else ""))
