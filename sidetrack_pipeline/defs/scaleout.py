"""Scale-out of the audio analysis: one run, the files in batches, each batch a step of its own.

`audio_features` analyses every file in one step (a process pool on one machine). The jobs here
do the same work as a fan-out, so that an executor can spread it:

    plan_analysis_batches ──► analyse_batch[batch_0000] ─┐
     (DynamicOut: the files   analyse_batch[batch_0001] ─┼──► record_audio_features
      to analyse, in batches) analyse_batch[…]         ──┘    (AssetMaterialization of
                                                               `audio_features`)

* `audio_features_batches`: Dagster's default executor (each batch a subprocess of the run, or
  all in the run's process with `execution: {config: {in_process: {}}}`).
* `audio_features_celery`: the same graph on the Celery executor (dagster-celery, the `celery`
  extra): each batch is a Celery task that any worker listening on the broker picks up, on this
  machine or another one (docs/operations.md, "Scale-out: Celery and Kubernetes"). The broker and
  result backend come from the run config (`execution: {config: {broker: …, backend: …}}`, the
  same block the workers are started with: `dagster-celery worker start -y docker/celery.yaml`).

A batch runs exactly the domain code `audio_features` runs: `audio.batch.analyze_many` (its own
process pool of ANALYSIS_WORKERS, per-file timeout and memory bound on the machine the batch
lands on) and `scoring.store.save_features`/`save_error` into the same tables, committed as results
arrive. Which files need analysing is decided once, by the planning step (files already analysed
with the same content hash and analyser version are skipped), so a second run finds nothing to
do. Each batch step records where it ran (the Celery worker's node name, `w1@host`, or the local
host; the process id) in its output metadata, and the final step aggregates them into the
`audio_features` materialization.
"""

import os
import socket
import time
from typing import Iterator

import dagster as dg

from sidetrack_pipeline.audio.batch import analyze_many
from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.scoring import store
from sidetrack_pipeline.settings import get_settings

AUDIO_FEATURES = dg.AssetKey("audio_features")


# --------------------------------------------------------------------------- plain helpers

def split_batches(items: list, batch_size: int) -> list[list]:
    """`items` in order, cut into the fewest batches of at most `batch_size`, their sizes
    differing by at most one (so no batch is a small remainder)."""
    if not items:
        return []
    count = -(-len(items) // max(1, batch_size))
    base, extra = divmod(len(items), count)
    batches, start = [], 0
    for index in range(count):
        size = base + (1 if index < extra else 0)
        batches.append(items[start:start + size])
        start += size
    return batches


def worker_identity() -> dict[str, str | int]:
    """Where this code runs: the Celery worker's node name (`-n w1@%h` → `w1@host`) inside a
    Celery task, else the host name; with the executor kind and the process id."""
    node = None
    try:
        from celery import current_task

        if current_task and current_task.request is not None:
            node = current_task.request.hostname
    except ImportError:  # the `celery` extra is not installed: never in a Celery task
        pass
    return {"executor": "celery" if node else "local", "worker": node or socket.gethostname(),
            "pid": os.getpid()}


# --------------------------------------------------------------------------- ops

class BatchPlan(dg.Config):
    """How the files to analyse are cut: at most `batch_size` files per step (fewer, larger
    batches cost less scheduling; more, smaller ones spread better over many workers)."""

    batch_size: int = 32


@dg.op(out=dg.DynamicOut(list), tags={"kind": "python"})
def plan_analysis_batches(context: dg.OpExecutionContext, config: BatchPlan,
                          database: DatabaseResource) -> Iterator[dg.DynamicOutput]:
    """The matched files without current features or a known failure (the selection
    `audio_features` makes), as batches of [track_id, path, content_hash]."""
    with database.connect() as conn, conn.cursor() as cur:
        todo = store.tracks_to_analyze(cur, ANALYZER_VERSION)
    batches = split_batches([list(row) for row in todo], config.batch_size)
    context.log.info(f"{len(todo)} files to analyse in {len(batches)} batches of ≤ {config.batch_size}")
    for index, batch in enumerate(batches):
        yield dg.DynamicOutput(batch, mapping_key=f"batch_{index:04d}")


@dg.op(tags={"kind": "essentia"})
def analyse_batch(context: dg.OpExecutionContext, database: DatabaseResource,
                  files: list) -> dg.Output[dict]:
    """Analyse one batch with the same pool and store calls as `audio_features`, committing
    every few results; the summary says where it ran."""
    settings = get_settings()
    identity = worker_identity()
    by_path = {path: (track_id, digest) for track_id, path, digest in files}
    processes = max(1, min(settings.analysis_workers, len(by_path)))
    context.log.info(f"{len(by_path)} files on {identity['worker']} (pid {identity['pid']}), "
                     f"{processes} analysis processes")
    started = time.perf_counter()
    results = analyze_many(by_path, workers=processes, excerpt_seconds=settings.excerpt_seconds)
    tally = store.store_results(database.connect, by_path, results, ANALYZER_VERSION, context.log)
    done, errors, audio_seconds = tally.analysed, tally.errors, tally.audio_seconds
    summary = {"batch": context.get_mapping_key() or "", **identity, "files": len(by_path),
               "analysed": done, "errors": errors, "audio_seconds": round(audio_seconds, 3),
               "wall_seconds": round(time.perf_counter() - started, 3)}
    return dg.Output(summary, metadata={
        "worker": identity["worker"], "executor": identity["executor"], "pid": identity["pid"],
        "files": len(by_path), "analysed": done, "errors": errors,
        "wall_seconds": summary["wall_seconds"]})


def summarize(summaries: list[dict]) -> dict:
    """Run totals and, per worker, its batches, files and analysed files."""
    workers: dict[str, dict] = {}
    for s in summaries:
        entry = workers.setdefault(s["worker"], {"executor": s["executor"], "batches": 0, "files": 0,
                                                 "analysed": 0, "errors": 0, "pids": []})
        entry["batches"] += 1
        entry["files"] += s["files"]
        entry["analysed"] += s["analysed"]
        entry["errors"] += s["errors"]
        if s["pid"] not in entry["pids"]:
            entry["pids"].append(s["pid"])
    return {"batches": len(summaries), "files": sum(s["files"] for s in summaries),
            "analysed": sum(s["analysed"] for s in summaries),
            "errors": sum(s["errors"] for s in summaries), "workers": workers}


def _batch_table(summaries: list[dict]) -> str:
    lines = ["| batch | worker | pid | files | analysed | errors | seconds |", "|---|---|---|---|---|---|---|"]
    for s in sorted(summaries, key=lambda s: s["batch"]):
        lines.append(f"| {s['batch']} | {s['worker']} | {s['pid']} | {s['files']} | {s['analysed']} "
                     f"| {s['errors']} | {s['wall_seconds']} |")
    return "\n".join(lines)


@dg.op(tags={"kind": "python"})
def record_audio_features(context: dg.OpExecutionContext, database: DatabaseResource,
                          summaries: list[dict]) -> dg.Output[dict]:
    """Totals of the batches and of the tables, and which workers analysed what, as output
    metadata and as a materialization of the `audio_features` asset (the same table)."""
    totals = summarize(summaries)
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*) from features")
        with_features = cur.fetchone()[0]
        cur.execute("select count(*) from analysis_error")
        with_errors = cur.fetchone()[0]
    names = sorted(totals["workers"])
    metadata = {
        "analyzer_version": ANALYZER_VERSION, "analysed_this_run": totals["analysed"],
        "errors_this_run": totals["errors"], "batches": totals["batches"],
        "workers": dg.MetadataValue.json(totals["workers"]),
        "worker_names": ", ".join(names) if names else "(nothing to analyse)",
        "batch_table": dg.MetadataValue.md(_batch_table(summaries)),
        "tracks_with_features": with_features, "files_with_errors": with_errors}
    context.log_event(dg.AssetMaterialization(
        asset_key=AUDIO_FEATURES, metadata=metadata,
        description=f"{totals['files']} files in {totals['batches']} batches on {len(names)} workers"))
    return dg.Output(totals, metadata=metadata)


@dg.graph
def analyse_audio_in_batches():
    """Plan the batches, analyse each as its own step, record the result."""
    batches = plan_analysis_batches()
    record_audio_features(batches.map(analyse_batch).collect())


_DESCRIPTION = ("The `audio_features` analysis fanned out: the files to analyse in batches "
                "(`ops.plan_analysis_batches.config.batch_size`), one step per batch, {how}.")

audio_features_batches_job = analyse_audio_in_batches.to_job(
    name="audio_features_batches",
    description=_DESCRIPTION.format(how="on Dagster's default executor (multiprocess; or "
                                        "`execution: {config: {in_process: {}}}`)"))


def _celery_job() -> dg.JobDefinition | None:
    try:
        from dagster_celery import celery_executor
    except ImportError:  # the `celery` extra is not installed
        return None
    return analyse_audio_in_batches.to_job(
        name="audio_features_celery", executor_def=celery_executor,
        description=_DESCRIPTION.format(how="each a Celery task (dagster-celery; broker and backend "
                                            "from the run config, see docs/operations.md)"))


audio_features_celery_job = _celery_job()

JOBS = [job for job in (audio_features_batches_job, audio_features_celery_job) if job is not None]
