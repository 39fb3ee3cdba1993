"""What the Dagster instance knows about SideTrack's health, for `sidetrack status`: the latest
evaluation of every asset check, the schedules with their next ticks, and whether the daemon
that fires them is alive."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._utils.schedules import cron_string_iterator

DAEMON_STALE_AFTER = dt.timedelta(minutes=5)


@dataclass
class CheckState:
    check: str              # asset:check
    status: str             # passed | failed | did not finish | running | never run
    severity: str | None = None
    when: dt.datetime | None = None
    summary: str | None = None

    @property
    def failing(self) -> bool:
        return self.status in ("failed", "did not finish")


@dataclass
class ScheduleState:
    name: str
    job: str
    cron: str
    running: bool
    next_tick: dt.datetime | None


@dataclass
class DaemonState:
    running: bool
    last_heartbeat: dt.datetime | None


def check_states(instance: dg.DagsterInstance, defs: dg.Definitions) -> list[CheckState]:
    keys = sorted(defs.resolve_asset_graph().asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    states = []
    for key in keys:
        name = f"{key.asset_key.to_user_string()}:{key.name}"
        record = latest.get(key)
        if record is None:
            states.append(CheckState(name, "never run"))
            continue
        when = dt.datetime.fromtimestamp(record.create_timestamp, dt.timezone.utc)
        if record.status == AssetCheckExecutionRecordStatus.PLANNED:
            run = instance.get_run_by_id(record.run_id)
            finished = run is None or run.is_finished
            states.append(CheckState(name, "did not finish" if finished else "running", when=when))
            continue
        evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event \
            else None
        summary = None
        if evaluation is not None:
            entry = evaluation.metadata.get("summary")
            summary = entry.value if entry is not None else evaluation.description
        states.append(CheckState(
            name, "passed" if record.status == AssetCheckExecutionRecordStatus.SUCCEEDED else "failed",
            severity=evaluation.severity.value.lower() if evaluation is not None else None,
            when=when, summary=summary))
    return states


def schedule_states(instance: dg.DagsterInstance, defs: dg.Definitions, now: dt.datetime) -> list[ScheduleState]:
    stored = {state.name: state.status for state in instance.all_instigator_state(
        instigator_type=InstigatorType.SCHEDULE)}
    out = []
    for schedule in defs.get_repository_def().schedule_defs:
        status = stored.get(schedule.name)
        if status is None or status == InstigatorStatus.DECLARED_IN_CODE:
            running = schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        else:
            running = status == InstigatorStatus.RUNNING
        cron = schedule.cron_schedule if isinstance(schedule.cron_schedule, str) else schedule.cron_schedule[0]
        ticks = cron_string_iterator(now.timestamp(), cron, schedule.execution_timezone or "UTC")
        next_tick = next((t for t in ticks if t.timestamp() > now.timestamp()), None) if running else None
        out.append(ScheduleState(schedule.name, schedule.job_name, cron, running, next_tick))
    return out


def daemon_state(instance: dg.DagsterInstance, now: dt.datetime) -> DaemonState:
    beats = [beat.timestamp for beat in instance.get_daemon_heartbeats().values()]
    if not beats:
        return DaemonState(False, None)
    last = dt.datetime.fromtimestamp(max(beats), dt.timezone.utc)
    return DaemonState(now - last < DAEMON_STALE_AFTER, last)
