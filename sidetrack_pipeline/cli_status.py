"""`sidetrack status`: per user the last sync, the analysis backlog, failing checks and the next
scheduled runs. Exit status 1 when a check of severity error is failing (for cron or monitoring),
2 when the database cannot be reached."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict

import typer

from sidetrack_pipeline.health.status import LibraryBacklog, UserStatus

NO_SYNC_NEEDED = "not set up"


def status(as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
           all_checks: bool = typer.Option(False, "--all-checks", help="list passing checks too")) -> None:
    """Health of this SideTrack: syncs, analysis backlog, checks, next scheduled runs."""
    from sidetrack_pipeline.audio.features import ANALYZER_VERSION
    from sidetrack_pipeline.db.connection import connect, database_url
    from sidetrack_pipeline.health.status import library_backlog, user_statuses
    from sidetrack_pipeline.settings import get_settings

    now = dt.datetime.now(dt.timezone.utc)
    settings = get_settings()
    try:
        with connect(database_url()) as conn:
            users = user_statuses(conn, ANALYZER_VERSION)
            library = library_backlog(conn, settings.audio_root, ANALYZER_VERSION)
    except Exception as exc:  # psycopg2.OperationalError, a missing table before migrations ...
        typer.echo(f"error: cannot read the SideTrack database: {exc}".rstrip(), err=True)
        raise typer.Exit(2)
    checks, schedules, daemon = _dagster_state(now)
    failing_errors = [c for c in checks if c.failing and c.severity != "warn"]
    if as_json:
        typer.echo(json.dumps({"at": now, "users": [asdict(u) for u in users], "library": asdict(library),
                               "checks": [asdict(c) for c in checks],
                               "schedules": [asdict(s) for s in schedules], "daemon": asdict(daemon)},
                              default=_json_default, indent=2))
    else:
        typer.echo("\n".join(_report(now, users, library, checks, schedules, daemon, all_checks)))
    if failing_errors:
        raise typer.Exit(1)


def _dagster_state(now: dt.datetime):
    from dagster import DagsterInstance

    from sidetrack_pipeline.defs import defs
    from sidetrack_pipeline.defs.health_state import check_states, daemon_state, schedule_states
    from sidetrack_pipeline.pipeline import dagster_home

    dagster_home()
    with DagsterInstance.get() as instance:
        return check_states(instance, defs), schedule_states(instance, defs, now), daemon_state(instance, now)


def _when(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    ago = now - value
    if ago < dt.timedelta(0):
        ahead = -ago
        span = f"in {ahead.seconds // 60} min" if ahead < dt.timedelta(hours=1) else \
            f"in {ahead.total_seconds() / 3600:.1f} h"
    elif ago < dt.timedelta(hours=1):
        span = f"{ago.seconds // 60} min ago"
    elif ago < dt.timedelta(days=2):
        span = f"{ago.total_seconds() / 3600:.1f} h ago"
    else:
        span = f"{ago.days} days ago"
    return f"{value.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC ({span})"


def _user_lines(user: UserStatus, now: dt.datetime) -> list[str]:
    lines = [f"{user.user_name} ({user.timezone})",
             f"  listens       {user.listens}, last {_when(user.last_listen, now)}"]
    for sync in user.sources:
        if not sync.account:
            lines.append(f"  {sync.source:<13} {NO_SYNC_NEEDED}")
            continue
        if sync.last_status is None:
            state = "never synced"
        elif sync.last_status == "failed":
            state = (f"last sync FAILED {_when(sync.last_finished, now)}: {sync.last_error or 'no message'}; "
                     f"last good sync {_when(sync.last_ok, now)}")
        elif sync.last_status == "running":
            state = f"syncing now (last good sync {_when(sync.last_ok, now)})"
        else:
            state = f"last sync ok {_when(sync.last_finished, now)}, +{sync.last_inserted} listens"
        lines.append(f"  {sync.source:<13} {sync.account}: {state}")
    analysed = user.tracks_listened - user.tracks_awaiting_analysis - user.tracks_failed_analysis \
        - user.tracks_without_file
    lines.append(f"  analysis      {user.tracks_listened} tracks listened to: {analysed} analysed, "
                 f"{user.tracks_awaiting_analysis} waiting, {user.tracks_failed_analysis} failed, "
                 f"{user.tracks_without_file} without a local file")
    return lines


def _report(now, users, library: LibraryBacklog, checks, schedules, daemon, all_checks: bool) -> list[str]:
    lines = [f"SideTrack status at {now:%Y-%m-%d %H:%M} UTC", ""]
    if not users:
        lines += ["no users yet (sidetrack users add NAME, or import listens)", ""]
    for user in users:
        lines += [*_user_lines(user, now), ""]
    if library.mounted:
        lines.append(f"library {library.root}: {library.unscanned_files} files new or changed since the last "
                     f"scan, {library.removed_files} gone; {library.files_awaiting_analysis} matched files "
                     f"awaiting analysis")
    else:
        lines.append(f"library {library.root}: NOT A FOLDER (unmounted?); {library.files_awaiting_analysis} "
                     f"matched files awaiting analysis")
    lines.append("")
    counts = {}
    for check in checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    lines.append("checks: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none defined"))
    for check in checks:
        if check.failing or all_checks:
            label = check.status.upper() if check.failing else check.status
            severity = f" ({check.severity})" if check.severity else ""
            lines.append(f"  {label}{severity}  {check.check}  {check.summary or ''}  [{_when(check.when, now)}]")
    lines.append("")
    if daemon.running:
        lines.append(f"dagster daemon: running (heartbeat {_when(daemon.last_heartbeat, now)})")
    else:
        lines.append("dagster daemon: NOT RUNNING: schedules and sensors fire only under `sidetrack ui` "
                     "(dagster dev) or the deployment's dagster-daemon"
                     + (f"; last heartbeat {_when(daemon.last_heartbeat, now)}" if daemon.last_heartbeat else ""))
    lines.append("next scheduled runs:")
    for schedule in sorted(schedules, key=lambda s: (s.next_tick is None, s.next_tick or now)):
        when = _when(schedule.next_tick, now) if schedule.running else "stopped"
        lines.append(f"  {schedule.name:<28} {schedule.job:<20} {schedule.cron:<14} {when}")
    return lines


def _json_default(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
