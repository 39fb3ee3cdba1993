"""Weekly partitions of the aggregates and the weekly analytics.

One partition per week, keyed by its Monday (`2026-01-05`), from AGGREGATE_WEEKS_START (default
2005-01-03) up to and including the current, still running week (`end_offset=1`), so the schedule
can refresh it. A partition's time window is [Monday 00:00, next Monday 00:00) in UTC; what the
assets compute for it is each user's *local* week whose Monday is that date (dbt's
`int_listens_local.week`), so the window's dates, not its instants, are what matters.

~1 150 partitions (2005 to 2026): time-window partitions are computed, not stored, so the UI and
the daemon handle that many without cost (the asset page shows them as one status bar).
"""

import datetime as dt
import warnings
from collections.abc import Iterator

import dagster as dg

from sidetrack_pipeline.settings import get_settings

# BackfillPolicy on @asset is "beta" in 1.13; every weekly asset uses single_run on purpose.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=get_settings().aggregate_weeks_start.isoformat(), day_offset=1, end_offset=1,
    fmt="%Y-%m-%d")


# The Dagster tag every weekly asset carries (dagster-dbt turns the dbt tag `weekly` into the same
# tag), so `--select tag:weekly` picks the whole weekly layer in the UI and the CLI.
WEEKLY_TAGS = {"weekly": ""}


def window_dates(context) -> tuple[dt.date, dt.date]:
    """[first Monday, Monday after the last week) of a run's partition (or partition range)."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def mondays(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """The Mondays in [start, end)."""
    day = start - dt.timedelta(days=start.weekday())
    if day < start:
        day += dt.timedelta(days=7)
    while day < end:
        yield day
        day += dt.timedelta(days=7)


def iso_week(monday: dt.date) -> str:
    """2026-01-05 -> '2026-W02' (the form `sidetrack mixtape --week` takes)."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def monday_of(iso: str) -> dt.date:
    """'2026-W02' (or a date 'YYYY-MM-DD') -> the Monday of that week."""
    try:
        if "-W" in iso:
            year, week = iso.split("-W")
            return dt.date.fromisocalendar(int(year), int(week), 1)
        day = dt.date.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"a week looks like 2026-W05 (or a date 2026-01-26), not {iso!r}") from None
    return day - dt.timedelta(days=day.weekday())


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """Run tags that make one run cover the weekly partitions first..last (inclusive Mondays):
    how a single-run backfill is launched (BackfillPolicy.single_run)."""
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


def last_key(now: dt.datetime | None = None) -> str:
    """The current week's partition key at `now` (default: now)."""
    with dg.partition_loading_context(effective_dt=now or dt.datetime.now(dt.timezone.utc)):
        return weekly_partitions.get_last_partition_key()


def clamp(first: dt.date, last: dt.date, now: dt.datetime | None = None) -> tuple[dt.date, dt.date] | None:
    """first..last cut to the partitions that exist (AGGREGATE_WEEKS_START .. the current week)."""
    keys_start = dt.date.fromisoformat(weekly_partitions.get_first_partition_key())
    first, last = max(first, keys_start), min(last, dt.date.fromisoformat(last_key(now)))
    return (first, last) if first <= last else None
