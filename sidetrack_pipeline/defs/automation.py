"""Jobs, schedules and sensors: keep the `users` partitions current, sync listens and Last.fm
tags on the intervals the settings give (INGEST_LISTENS_INTERVAL_MINUTES,
LASTFM_SYNC_INTERVAL_MINUTES), and refresh the weekly aggregates every
AGGREGATE_WEEKS_INTERVAL_MINUTES (current and previous week, then the full-history marts).

Jobs by partitioning (a job holds one partitions definition):

* `full_pipeline`: every unpartitioned asset (the per-user syncs and personal calibration have
  their own jobs, the weekly assets `weekly_aggregates`);
* `weekly_aggregates` (weekly partitions, single-run backfills): the dbt models tagged `weekly`
  and the weekly analytics (taste position, dominant cluster, outliers, mixtapes);
* `aggregate_marts`: what must follow a weekly run: the unpartitioned dbt models (views and
  full-history marts built from the weekly tables), change-point detection, and every other
  unpartitioned asset downstream of a weekly one. `aggregate_marts_sensor` starts it after each
  successful `weekly_aggregates` run (a schedule tick, a backfill, a UI launch).
"""

import datetime as dt

import dagster as dg

from sidetrack_pipeline.defs.assets.change_points import change_point_detection
from sidetrack_pipeline.defs.assets.clusters import cluster_weeks, listening_outliers
from sidetrack_pipeline.defs.assets.analytics import taste_trajectory
from sidetrack_pipeline.defs.assets.dbt import WEEKLY_DBT_ASSETS, sidetrack_dbt_models
from sidetrack_pipeline.defs.assets.mixtapes import weekly_mixtapes
from sidetrack_pipeline.defs.assets.personal import personal_scores
from sidetrack_pipeline.defs.checks import health_checks_job
from sidetrack_pipeline.defs.assets.sources import (lastfm_listens, lastfm_tags, listenbrainz_listens,
                                                    users_partitions)
from sidetrack_pipeline.defs.partitions import last_key, range_tags, weekly_partitions
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.settings import get_settings

WEEKLY_ASSETS = [*WEEKLY_DBT_ASSETS, taste_trajectory, cluster_weeks, listening_outliers, weekly_mixtapes]
per_user_selection = dg.AssetSelection.assets(listenbrainz_listens, lastfm_listens, personal_scores)
weekly_selection = dg.AssetSelection.assets(*WEEKLY_ASSETS)
# Unpartitioned and downstream of a weekly asset: rebuilt after the weekly partitions.
after_weekly_selection = weekly_selection.downstream() - weekly_selection - per_user_selection
marts_selection = (dg.AssetSelection.assets(sidetrack_dbt_models, change_point_detection)
                   | after_weekly_selection)

full_pipeline_job = dg.define_asset_job(
    "full_pipeline", selection=dg.AssetSelection.all() - per_user_selection - weekly_selection,
    description="listens → tracks → metadata → files → features/embeddings → scores → dbt models → "
                "taste map and clusters (per-user API syncs: `sync_listens`; the weekly aggregates "
                "and analytics: `weekly_aggregates`; `sidetrack materialize` runs all three stages).")
weekly_aggregates_job = dg.define_asset_job(
    "weekly_aggregates", selection=weekly_selection, partitions_def=weekly_partitions,
    description="Weekly dbt models and weekly analytics for a range of weeks (partition = the week's "
                "Monday). Backfill any range from the UI or `sidetrack backfill`: one run, one dbt "
                "invocation. `aggregate_marts` follows each successful run.")
aggregate_marts_job = dg.define_asset_job(
    "aggregate_marts", selection=marts_selection,
    description="The unpartitioned dbt models (views, full-history marts built from the weekly tables), "
                "change-point detection, and what else follows the weekly assets.")

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
    # A generator: ScheduleDefinition.evaluate_tick (what the daemon calls) accepts one
    # RunRequest, a SkipReason or a generator of them, not a list.
    users = context.instance.get_dynamic_partitions(users_partitions.name)
    if not users:
        yield dg.SkipReason("no SideTrack users yet")
        return
    stamp = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    for user in users:
        yield dg.RunRequest(partition_key=user, run_key=f"{user}:{stamp}")


def current_weeks(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """(previous, current) weekly partitions (Mondays) at `now`."""
    current = dt.date.fromisoformat(last_key(now))
    first = dt.date.fromisoformat(weekly_partitions.get_first_partition_key())
    previous = max(first, current - dt.timedelta(days=7))
    return previous, current


def _aggregate_weeks_run(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
    previous, current = current_weeks(now)
    # One run for both weeks (single-run backfill policy): one dbt invocation, one marts rebuild.
    return dg.RunRequest(run_key=f"{previous}...{current}:{now.isoformat()}", tags=range_tags(previous, current))


# Runs that rebuild the marts themselves (sidetrack materialize / backfill) carry this tag.
MARTS_INLINE_TAG = "sidetrack/marts"
WEEKLY_KEYS = frozenset(key for assets_def in WEEKLY_ASSETS for key in assets_def.keys)


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, request_job=aggregate_marts_job,
                      default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
                      description="After each successful run that materialised weekly partitions (the "
                                  "schedule, a job or asset backfill from the UI or the CLI): rebuild the "
                                  "full-history marts from the weekly tables (`aggregate_marts`).")
def aggregate_marts_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    weekly = run.job_name == weekly_aggregates_job.name or bool(set(run.asset_selection or ()) & WEEKLY_KEYS)
    if not weekly:
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) materialised no weekly partition")
    if run.tags.get(MARTS_INLINE_TAG) == "inline":
        return dg.SkipReason(f"run {run.run_id} is followed by its own aggregate_marts run")
    return dg.RunRequest(run_key=run.run_id)


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
    weeks = dg.ScheduleDefinition(
        name="aggregate_weeks_schedule", job=weekly_aggregates_job,
        cron_schedule=interval_cron(settings.aggregate_weeks_interval_minutes),
        execution_fn=_aggregate_weeks_run, default_status=dg.DefaultScheduleStatus.RUNNING)
    health = dg.ScheduleDefinition(
        name="health_checks_schedule", job=health_checks_job,
        cron_schedule=interval_cron(settings.ingest_listens_interval_minutes),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every data check (duplicates, score ranges, coverage, freshness) on the "
                    "listens interval, so a stalled sync shows up even when nothing runs.")
    return [listens, tags, weeks, health]


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
