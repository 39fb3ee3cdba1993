"""Running the whole asset graph through Dagster from Python (used by the CLI and the demo)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sidetrack_pipeline.settings import get_settings

# MusicBrainz (1 request/s), Last.fm and GPU (embeddings, stems) work: one step at a time in each
# pool across all runs.
CONCURRENCY_YAML = """concurrency:
  pools:
    default_limit: 1
"""
DAGSTER_YAML = """# Local Dagster instance for SideTrack (runs, event logs, schedules in SQLite here).
telemetry:
  enabled: false
""" + "\n" + CONCURRENCY_YAML


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to $SIDETRACK_HOME/dagster, created with a minimal dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().home / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    elif "concurrency:" not in config.read_text():  # an instance made by an older SideTrack
        config.write_text(config.read_text().rstrip("\n") + "\n\n" + CONCURRENCY_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass
class PipelineRun:
    """The Dagster runs one call made (each an ExecuteInProcessResult), in order."""

    results: list = field(default_factory=list)
    weeks: tuple[date, date] | None = None   # the weekly partitions covered (first, last Monday)
    notes: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.results]


def _stage_keys(defs):
    """(unpartitioned keys before the weekly assets, those after them) of the `full_pipeline` and
    `aggregate_marts` jobs."""
    from sidetrack_pipeline.defs import automation

    graph = defs.resolve_asset_graph()
    full = set(defs.resolve_job_def("full_pipeline").asset_layer.executable_asset_keys)
    after = set(automation.after_weekly_selection.resolve(graph))
    return sorted(full - after), sorted(after)


def listened_weeks(url: str | None = None) -> tuple[date, date] | None:
    """First and last local week (Mondays) with listens, from dbt's int_listens_local."""
    from sidetrack_pipeline.db.connection import connect, database_url

    with connect(url or database_url()) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('intermediate.int_listens_local')")
        if cur.fetchone()[0] is None:
            return None
        cur.execute("select min(week), max(week) from intermediate.int_listens_local")
        first, last = cur.fetchone()
    return (first, last) if first is not None else None


def backfill_weeks(first: date, last: date, raise_on_error: bool = True, marts: bool = True,
                   defs=None, instance=None) -> PipelineRun:
    """One single-run backfill of the `weekly_aggregates` job over the weeks first..last (Mondays,
    both included; one run, one dbt invocation), then `aggregate_marts` (the full-history marts
    rebuilt from the weekly tables), against the persistent local instance."""
    from sidetrack_pipeline.defs.automation import MARTS_INLINE_TAG
    from sidetrack_pipeline.defs.partitions import clamp, range_tags

    out = PipelineRun()
    span = clamp(first, last)
    if span is None:
        out.notes.append(f"no weekly partition between {first} and {last} (partitions: AGGREGATE_WEEKS_START "
                         "up to the current week)")
        return out
    if span != (first, last):
        out.notes.append(f"weeks cut to the existing partitions: {span[0]} .. {span[1]}")
    out.weeks = span
    with _instance(instance) as inst:
        defs = defs or _defs()
        weekly = defs.resolve_job_def("weekly_aggregates")
        tags = {**range_tags(*span), **({MARTS_INLINE_TAG: "inline"} if marts else {})}
        out.results.append(weekly.execute_in_process(instance=inst, tags=tags, raise_on_error=raise_on_error))
        if marts and out.success:
            out.results.append(defs.resolve_job_def("aggregate_marts").execute_in_process(
                instance=inst, raise_on_error=raise_on_error))
    return out


def materialize_all(raise_on_error: bool = True) -> PipelineRun:
    """Every asset but the per-user syncs, in three runs against the persistent local instance (so
    they show up in `dagster dev` afterwards):

    1. `full_pipeline` without what depends on the weekly assets: ingest → … → scores → dbt
       views (and the full-history marts, while no dbt model is weekly) → taste map, clusters;
    2. `weekly_aggregates` as one single-run backfill over every week that has listens;
    3. the unpartitioned assets downstream of the weekly ones (full-history marts,
       change-points), when there are any.
    """
    from sidetrack_pipeline.defs.automation import MARTS_INLINE_TAG
    from sidetrack_pipeline.defs.partitions import clamp, range_tags

    out = PipelineRun()
    with _instance(None) as inst:
        defs = _defs()
        before, after = _stage_keys(defs)
        full = defs.resolve_job_def("full_pipeline")
        out.results.append(full.execute_in_process(instance=inst, asset_selection=before,
                                                   raise_on_error=raise_on_error))
        if not out.success:
            return out
        weeks = listened_weeks()
        span = None if weeks is None else clamp(*weeks)
        if span is not None and span != weeks:
            out.notes.append(f"listens span {weeks[0]} .. {weeks[1]}; the weekly partitions cover "
                             f"{span[0]} .. {span[1]} (AGGREGATE_WEEKS_START up to the current week)")
        if span is None:
            out.notes.append("no listens in the weekly partitions: the weekly assets were not run")
        else:
            out.weeks = span
            out.results.append(defs.resolve_job_def("weekly_aggregates").execute_in_process(
                instance=inst, tags={**range_tags(*span), MARTS_INLINE_TAG: "inline"},
                raise_on_error=raise_on_error))
        if after and out.success:
            out.results.append(defs.resolve_job_def("aggregate_marts").execute_in_process(
                instance=inst, asset_selection=after, raise_on_error=raise_on_error))
    return out


def _defs():
    from sidetrack_pipeline.defs import defs

    return defs


@contextmanager
def _instance(instance):
    if instance is not None:
        yield instance
        return
    dagster_home()
    from dagster import DagsterInstance

    with DagsterInstance.get() as inst:
        yield inst
