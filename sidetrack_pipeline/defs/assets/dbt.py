"""The dbt project (staging → intermediate → marts) as Dagster assets, wired to the Python assets.

Two multi-assets over the same manifest:

* `sidetrack_dbt_weekly`: the models tagged `weekly` (a week's rows depend only on that week's
  listens), weekly-partitioned with a single-run backfill policy: one run, and one
  `dbt build --select <those models>` with SIDETRACK_WEEK_START / SIDETRACK_WEEK_END set in the dbt
  subprocess's environment, for any range of weeks; dbt recomputes exactly the local weeks whose
  Monday is in [start, end). The range goes in the environment, not in `--vars`: dbt's partial
  parsing is keyed on the vars, so every new range in --vars re-parsed the whole project (start-up
  3.8 s instead of 2.4 s at 1M listens); the environment variables are read only at execution.
* `sidetrack_dbt_models`: everything else (`--exclude tag:weekly`: staging and intermediate
  views, full-history marts such as the EMA/Kalman of mart_mood_week, radar, change-points,
  overview), unpartitioned, rebuilt from the weekly tables each run.

While no model carries the tag, `sidetrack_dbt_weekly` selects nothing and is left out of the
Definitions (`WEEKLY_DBT_ASSETS` is empty); everything then stays in `sidetrack_dbt_models`.
"""


import json
import os
import threading
from contextlib import contextmanager
from datetime import date
from typing import Any, Iterator, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets, get_asset_key_for_model

from sidetrack_pipeline.defs.dbt_project import dbt_project, ensure_manifest
from sidetrack_pipeline.defs.partitions import weekly_partitions, window_dates
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.fsutil import temporary_env

WEEKLY_TAG = "weekly"

# Which Python asset produces each raw table dbt reads (mood_scores: the last of its writers,
# after the audio, tag and lexicon scores are fused and smoothed).
SOURCE_ASSETS = {
    "users": "users",
    "listen": "listens",
    "artist": "artists",
    "release": "releases",
    "track": "tracks",
    "features": "audio_features",
    "mood_scores": "smoothed_scores",
}


class SideTrackDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["name"] in SOURCE_ASSETS:
            return dg.AssetKey(SOURCE_ASSETS[dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


MANIFEST = ensure_manifest()

# The partition range of the weekly models (dbt_project/macros/weekly.sql, weekly_range()).
WEEK_ENV = ("SIDETRACK_WEEK_START", "SIDETRACK_WEEK_END")
_WEEK_ENV_LOCK = threading.Lock()


@contextmanager
def week_range_env(first: date | None = None, end: date | None = None) -> Iterator[None]:
    """The environment for starting one dbt subprocess: SIDETRACK_WEEK_START / _END = the range
    (Mondays, end excluded), or both unset when no range is given, even if this process has them.

    DbtCliResource.cli() (dagster-dbt 0.29) takes no `env`: it copies os.environ when it starts the
    subprocess, inside the call. So the variables are set only around that call and restored right
    after (under a lock, for threads of this process); the dbt process keeps its copy, nothing leaks
    into later steps."""
    values = {WEEK_ENV[0]: None, WEEK_ENV[1]: None} if first is None else \
        {WEEK_ENV[0]: first.isoformat(), WEEK_ENV[1]: end.isoformat()}
    with _WEEK_ENV_LOCK, temporary_env(values):
        yield


@dbt_assets(manifest=MANIFEST, project=dbt_project, dagster_dbt_translator=SideTrackDbtTranslator(),
            exclude=f"tag:{WEEKLY_TAG}")
def sidetrack_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                         database: DatabaseResource):
    """`dbt build` of the full-history models (views, EMA/Kalman, radar, change-points, overview),
    with their tests; they read the weekly tables as they stand."""
    os.environ.update(database.dbt_env())   # profiles.yml reads SIDETRACK_PG*; dbt inherits os.environ
    with week_range_env():  # no partition range: the weekly models are not selected anyway
        invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()


def weekly_models(manifest_path) -> list[str]:
    """Names of the models the manifest tags `weekly`."""
    manifest = json.loads(open(manifest_path, encoding="utf-8").read())
    return sorted(n["name"] for n in manifest["nodes"].values()
                  if n["resource_type"] == "model" and WEEKLY_TAG in (n.get("tags") or []))


def _weekly_dbt_assets() -> dg.AssetsDefinition:
    @dbt_assets(manifest=MANIFEST, project=dbt_project, dagster_dbt_translator=SideTrackDbtTranslator(),
                select=f"tag:{WEEKLY_TAG}", name="sidetrack_dbt_weekly", partitions_def=weekly_partitions,
                backfill_policy=dg.BackfillPolicy.single_run())
    def sidetrack_dbt_weekly(context: dg.AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource):
        """`dbt build` of the weekly models for the run's weeks (one partition, or a whole backfill
        range in one invocation): SIDETRACK_WEEK_START = the first Monday, SIDETRACK_WEEK_END = the
        Monday after the last, in the dbt subprocess's environment only."""
        first, end = window_dates(context)
        os.environ.update(database.dbt_env())
        context.log.info(f"dbt weekly models for the weeks {first} .. {end} (end excluded)")
        with week_range_env(first, end):  # only the dbt subprocess gets the range
            invocation = dbt.cli(["build"], context=context)
        yield from invocation.stream()

    return sidetrack_dbt_weekly


# None (and left out of the Definitions) while no dbt model is tagged `weekly`.
sidetrack_dbt_weekly = _weekly_dbt_assets() if weekly_models(MANIFEST) else None
WEEKLY_DBT_ASSETS = [sidetrack_dbt_weekly] if sidetrack_dbt_weekly is not None else []
DBT_ASSETS = [sidetrack_dbt_models, *WEEKLY_DBT_ASSETS]


def model_key(name: str) -> dg.AssetKey:
    """The asset key of dbt model `name`, whichever of the two multi-assets holds it."""
    for assets_def in DBT_ASSETS:
        key = get_asset_key_for_model([assets_def], name)
        if key in assets_def.keys:
            return key
    raise KeyError(f"no dbt model named {name!r}")
