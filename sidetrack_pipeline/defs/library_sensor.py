"""Watch AUDIO_ROOT: when files appear, change or vanish, analyse exactly those files.

`audio_root_sensor` compares the folder with what the last scan recorded (size and mtime, no
hashing, nothing written) and requests one `analyse_new_files` run per distinct change: the run
re-scans the library (which re-reads only those files), matches them to tracks and analyses
only the listed paths; embeddings and scores then fill in what is missing, which is those
tracks. Files still being written (younger than AUDIO_SETTLE_SECONDS) wait for a later tick,
and no new run starts while one is queued or running, so copying an album gives one run. A
file that a run's scan recorded while it was still settling (so the run did not analyse it) is
picked up as pending once it has settled.
"""

import dagster as dg

from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.defs.assets.analysis import audio_features
from sidetrack_pipeline.defs.assets.library import audio_files, track_files
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.ingest.library import library_changes
from sidetrack_pipeline.scoring import store
from sidetrack_pipeline.settings import get_settings

_analysis_assets = dg.AssetSelection.assets(audio_files, track_files, audio_features)
# The files' analysis and everything scored from it; not the dbt models or per-user assets.
analyse_selection = (_analysis_assets.downstream() & dg.AssetSelection.groups("library", "analysis", "scoring")
                     ) - dg.AssetSelection.assets("personal_scores")

analyse_new_files_job = dg.define_asset_job(
    "analyse_new_files", selection=analyse_selection,
    description="Scan AUDIO_ROOT, match files to tracks, analyse the files listed in the run config "
                "(all that need it when none are listed), then embeddings and scores. Launched by "
                "`audio_root_sensor`.")

_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED]
_SHOWN = 20   # files named in a run's tags


def _interval() -> int:
    try:
        return get_settings().audio_scan_interval_seconds
    except Exception:  # a bad setting must not stop the code location from loading
        return 300


@dg.sensor(job=analyse_new_files_job, minimum_interval_seconds=_interval(),
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Looks at AUDIO_ROOT every AUDIO_SCAN_INTERVAL_SECONDS and launches "
                       "`analyse_new_files` for exactly the new or changed files (and to forget "
                       "removed ones).")
def audio_root_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
    settings = get_settings()
    root = settings.audio_root
    if not root.is_dir():
        return dg.SkipReason(f"AUDIO_ROOT {root} is not a folder (not mounted?)")
    active = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=analyse_new_files_job.name, statuses=_ACTIVE), limit=1)
    if active:
        return dg.SkipReason(f"run {active[0].dagster_run.run_id} is still analysing; next tick")
    with database.connect() as conn, conn.cursor() as cur:
        # Matched files the last run scanned but did not analyse (they were still settling then).
        unanalysed = [path for _, path, _ in store.tracks_to_analyze(cur, ANALYZER_VERSION)]
        changes, stats = library_changes(conn, root, settle_seconds=settings.audio_settle_seconds,
                                         unanalysed=unanalysed)
    waiting = f"; {len(changes.settling)} still being written" if changes.settling else ""
    if not changes.to_analyse and not changes.removed:
        return dg.SkipReason(f"{root}: nothing new{waiting}")
    paths = list(changes.to_analyse)
    context.log.info(f"{root}: {len(changes.new)} new, {len(changes.changed)} changed, "
                     f"{len(changes.pending)} scanned earlier and not analysed yet, "
                     f"{len(changes.removed)} removed{waiting}")
    return dg.RunRequest(
        run_key=changes.fingerprint(stats),
        run_config={"ops": {audio_features.key.to_python_identifier(): {"config": {"paths": paths}}}},
        tags={"sidetrack/new_files": str(len(changes.new)), "sidetrack/changed_files": str(len(changes.changed)),
              "sidetrack/pending_files": str(len(changes.pending)),
              "sidetrack/removed_files": str(len(changes.removed)),
              "sidetrack/files": ", ".join(p.rsplit("/", 1)[-1] for p in paths[:_SHOWN])
                                 + (f" (+{len(paths) - _SHOWN})" if len(paths) > _SHOWN else "")})
