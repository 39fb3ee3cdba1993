"""The Dagster code location: every SideTrack asset, resource, job, schedule and sensor."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from sidetrack_pipeline.defs import automation, checks, library_sensor, scaleout
from sidetrack_pipeline.defs.assets import (analysis, analytics, change_points, clusters, dbt, embeddings,
                                            ingest, library, mixtapes, personal, scoring, smoothing, sources,
                                            stems, tag_scores, zeroshot)
from sidetrack_pipeline.defs.dbt_project import DBT_EXECUTABLE, dbt_project
from sidetrack_pipeline.defs.resources import (DatabaseResource, DeviceResource, LastfmResource,
                                               ListenBrainzResource, MusicBrainzResource)

all_assets = dg.load_assets_from_modules([sources, ingest, library, analysis, stems, embeddings, scoring,
                                           tag_scores, zeroshot, smoothing, personal, dbt, analytics,
                                           change_points, clusters, mixtapes])

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=checks.ALL_CHECKS,
    jobs=[automation.full_pipeline_job, automation.weekly_aggregates_job, automation.aggregate_marts_job,
          automation.sync_listens_job, automation.lastfm_tags_job, automation.personal_scores_job,
          library_sensor.analyse_new_files_job, checks.health_checks_job, *scaleout.JOBS],
    schedules=automation.build_schedules(),
    sensors=[automation.user_partitions_sensor, change_points.change_point_alert_sensor,
             automation.aggregate_marts_sensor, library_sensor.audio_root_sensor],
    resources={
        "database": DatabaseResource(),
        "device": DeviceResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        "listenbrainz": ListenBrainzResource(),
        "lastfm": LastfmResource(),
        "musicbrainz": MusicBrainzResource(),
    },
)
