"""The Dagster code location loads the way `dagster dev -w workspace.yaml` loads it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]

PYTHON_ASSETS = {"listens", "users", "tracks", "artists", "releases", "audio_files", "track_files", "audio_features",
                 "track_vectors", "learned_embeddings", "stem_pumpiness_scores",
                 "mood_scores", "track_projection", "taste_trajectory", "track_clusters", "cluster_weeks",
                 "listening_outliers", "weekly_mixtapes"}
DBT_MARTS = {"mart_mood_week", "mart_change_points", "mart_overview", "mart_listens_week"}


def test_every_asset_is_in_one_graph():
    from sidetrack_pipeline.defs import defs

    graph = defs.resolve_asset_graph()
    keys = {key.path[-1] for key in graph.get_all_asset_keys()}
    assert PYTHON_ASSETS | DBT_MARTS <= keys
    # dbt sources are wired to the Python assets that write those tables: lineage is one graph.
    stg_listens = next(k for k in graph.get_all_asset_keys() if k.path[-1] == "stg_listens")
    assert dg.AssetKey("listens") in graph.get(stg_listens).parent_keys
    trajectory = graph.get(dg.AssetKey("taste_trajectory"))
    assert {k.path[-1] for k in trajectory.parent_keys} == {"track_projection", "int_listens_local"}
    mixtapes = graph.get(dg.AssetKey("weekly_mixtapes"))
    assert {"cluster_weeks", "track_clusters", "int_listens_local"} <= {k.path[-1] for k in mixtapes.parent_keys}
    for job in ("full_pipeline", "weekly_aggregates", "aggregate_marts"):
        assert defs.resolve_job_def(job) is not None


def test_workspace_loads_with_the_dagster_cli():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
