"""The Dagster code location: every SideTrack asset, resource, job, schedule and sensor."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from sidetrack_pipeline.defs import automation
from sidetrack_pipeline.defs.assets import (analysis, analytics, change_points, clusters, dbt, embeddings,
                                            ingest, library, personal, scoring, smoothing, sources, stems,
                                            tag_scores, zeroshot)
from sidetrack_pipeline.defs.dbt_project import DBT_EXECUTABLE, dbt_project
from sidetrack_pipeline.defs.resources import (DatabaseResource, DeviceResource, LastfmResource,
                                               ListenBrainzResource, MusicBrainzResource)

all_assets = dg.load_assets_from_modules([sources, ingest, library, analysis, stems, embeddings, scoring,
                                           tag_scores, zeroshot, smoothing, personal, dbt, analytics,
                                           change_points, clusters])

# Everything that is not partitioned per user: the per-user syncs run in `sync_listens`.
full_pipeline_job = dg.define_asset_job(
    "full_pipeline",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(
        sources.listenbrainz_listens, sources.lastfm_listens, personal.personal_scores),
    description="listens → tracks → metadata → files → features/embeddings → scores → dbt marts "
                "→ trajectory (per-user API syncs: the `sync_listens` job).")

defs = dg.Definitions(
    assets=all_assets,
    jobs=[full_pipeline_job, automation.sync_listens_job, automation.lastfm_tags_job,
          automation.personal_scores_job],
    schedules=automation.build_schedules(),
    sensors=[automation.user_partitions_sensor, change_points.change_point_alert_sensor],
    resources={
        "database": DatabaseResource(),
        "device": DeviceResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        "listenbrainz": ListenBrainzResource(),
        "lastfm": LastfmResource(),
        "musicbrainz": MusicBrainzResource(),
    },
)
