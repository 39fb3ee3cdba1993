"""Running the whole asset graph through Dagster from Python (used by the CLI and the demo)."""

from __future__ import annotations

import os
from pathlib import Path

from sidetrack_pipeline.settings import get_settings

# MusicBrainz (1 request/s) and Last.fm work: one step at a time across all runs.
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


def materialize_all(raise_on_error: bool = True):
    """Execute the `full_pipeline` job in process against the persistent local instance, so the
    runs show up in `dagster dev` afterwards. Returns the ExecuteInProcessResult."""
    dagster_home()
    from dagster import DagsterInstance

    from sidetrack_pipeline.defs import defs

    job = defs.resolve_job_def("full_pipeline")
    with DagsterInstance.get() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=raise_on_error)
