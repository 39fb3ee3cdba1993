"""Jobs, schedules and sensors: keep the `users` partitions current, sync listens and Last.fm
tags on the intervals the settings give (INGEST_LISTENS_INTERVAL_MINUTES,
LASTFM_SYNC_INTERVAL_MINUTES)."""

import dagster as dg

from sidetrack_pipeline.defs.assets.personal import personal_scores
from sidetrack_pipeline.defs.assets.sources import (lastfm_listens, lastfm_tags, listenbrainz_listens,
                                                    users_partitions)
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.settings import get_settings

sync_listens_job = dg.define_asset_job(
    "sync_listens", selection=[listenbrainz_listens, lastfm_listens], partitions_def=users_partitions,
    description="One user's ListenBrainz and Last.fm listens (partition = SideTrack user).")
personal_scores_job = dg.define_asset_job(
    "personal_calibration", selection=[personal_scores], partitions_def=users_partitions,
    description="One user's calibrated personal axes, fitted on their labels.")
lastfm_tags_job = dg.define_asset_job(
    "sync_lastfm_tags", selection=[lastfm_tags],
    description="Last.fm top tags of listened tracks and artists (only expired cache entries).")


def interval_cron(minutes: int) -> str:
    """A cron expression firing every `minutes`: a divisor of 60, or whole hours dividing 24."""
    if minutes <= 0:
        raise ValueError("an interval must be a positive number of minutes")
    if minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"
    raise ValueError(f"an interval of {minutes} minutes cannot be a schedule: use a divisor of 60 "
                     f"minutes (5, 10, 15, 30 ...) or whole hours dividing a day (60, 120, 360 ...)")


def _per_user_runs(context: dg.ScheduleEvaluationContext):
    users = context.instance.get_dynamic_partitions(users_partitions.name)
    if not users:
        return dg.SkipReason("no SideTrack users yet")
    stamp = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    return [dg.RunRequest(partition_key=user, run_key=f"{user}:{stamp}") for user in users]


def build_schedules() -> list[dg.ScheduleDefinition]:
    settings = get_settings()
    listens = dg.ScheduleDefinition(
        name="sync_listens_schedule", job=sync_listens_job,
        cron_schedule=interval_cron(settings.ingest_listens_interval_minutes),
        execution_fn=_per_user_runs, default_status=dg.DefaultScheduleStatus.RUNNING)
    tags = dg.ScheduleDefinition(
        name="sync_lastfm_tags_schedule", job=lastfm_tags_job,
        cron_schedule=interval_cron(settings.lastfm_sync_interval_minutes),
        default_status=dg.DefaultScheduleStatus.RUNNING)
    return [listens, tags]


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Adds a `users` partition for every SideTrack user (and drops deleted ones).")
def user_partitions_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("select user_name from users")
        wanted = {row[0] for row in cur.fetchall()}
    existing = set(context.instance.get_dynamic_partitions(users_partitions.name))
    requests = []
    if wanted - existing:
        requests.append(users_partitions.build_add_request(sorted(wanted - existing)))
    if existing - wanted:
        requests.append(users_partitions.build_delete_request(sorted(existing - wanted)))
    if not requests:
        return dg.SkipReason(f"{len(existing)} user partitions, all current")
    return dg.SensorResult(dynamic_partitions_requests=requests)
