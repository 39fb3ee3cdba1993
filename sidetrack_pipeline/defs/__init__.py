"""The Dagster code location: every SideTrack asset, resource and job in one Definitions."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from sidetrack_pipeline.defs.assets import analysis, analytics, dbt, embeddings, ingest, library, scoring, stems
from sidetrack_pipeline.defs.dbt_project import DBT_EXECUTABLE, dbt_project
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource

all_assets = dg.load_assets_from_modules([ingest, library, analysis, stems, embeddings, scoring, dbt,
                                           analytics])

full_pipeline_job = dg.define_asset_job(
    "full_pipeline", selection=dg.AssetSelection.all(),
    description="Everything: listens → tracks → files → features/embeddings → scores → dbt marts → trajectory.")

defs = dg.Definitions(
    assets=all_assets,
    jobs=[full_pipeline_job],
    resources={
        "database": DatabaseResource(),
        "device": DeviceResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    },
)
