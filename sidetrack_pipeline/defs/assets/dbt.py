"""The dbt project (staging → intermediate → marts) as Dagster assets, wired to the Python assets."""


import os
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from sidetrack_pipeline.defs.dbt_project import dbt_project, ensure_manifest
from sidetrack_pipeline.defs.resources import DatabaseResource

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


@dbt_assets(manifest=ensure_manifest(), project=dbt_project,
            dagster_dbt_translator=SideTrackDbtTranslator())
def sidetrack_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource,
                         database: DatabaseResource):
    """`dbt build`: weekly mood marts, momentum, change-points and overview, with their tests."""
    os.environ.update(database.dbt_env())   # profiles.yml reads SIDETRACK_PG*; dbt inherits os.environ
    yield from dbt.cli(["build"], context=context).stream()
