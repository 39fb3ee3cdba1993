"""Audio analysis: handcrafted MIR features per matched file, then the track vectors."""


import time

import dagster as dg

from sidetrack_pipeline.audio.batch import analyze_many
from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.defs.assets.library import track_files
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource
from sidetrack_pipeline.scoring import store, vectors
from sidetrack_pipeline.settings import get_settings

_COMMIT_EVERY = 16


class AnalysisScope(dg.Config):
    """Which files a run analyses: every file that needs it (None, the default), or only these
    paths (what `audio_root_sensor` found new or changed; [] = none). A listed file whose
    features are already current is not analysed again."""

    paths: list[str] | None = None


@dg.asset(group_name="analysis", deps=[track_files], kinds={"python", "essentia"})
def audio_features(context: dg.AssetExecutionContext, config: AnalysisScope,
                   database: DatabaseResource) -> dg.MaterializeResult:
    """Essentia features (BPM, key/mode, loudness, spectral centroid, onset rate, stereo width,
    pumpiness, …) for every matched file not yet analysed with this content hash and analyser
    version. Files are analysed in a process pool; a file that fails gets a row in
    `analysis_error` and the rest of the batch goes on. Results are committed as they arrive,
    so a killed run keeps what it finished and the next run resumes."""
    settings = get_settings()
    with database.connect() as conn, conn.cursor() as cur:
        todo = store.tracks_to_analyze(cur, ANALYZER_VERSION)
    if config.paths is not None:
        wanted = set(config.paths)
        todo = [row for row in todo if row[1] in wanted]
    by_path = {path: (track_id, digest) for track_id, path, digest in todo}
    context.log.info(f"{len(todo)} files to analyse with {settings.analysis_workers} workers")
    started, done, errors, audio_seconds = time.perf_counter(), 0, 0, 0.0
    results = analyze_many(by_path, workers=settings.analysis_workers,
                           excerpt_seconds=settings.excerpt_seconds)
    pending = []
    for result in results:
        pending.append(result)
        if len(pending) >= _COMMIT_EVERY:
            d, e, s = _save(database, by_path, pending, context)
            done, errors, audio_seconds = done + d, errors + e, audio_seconds + s
            pending = []
    d, e, s = _save(database, by_path, pending, context)
    done, errors, audio_seconds = done + d, errors + e, audio_seconds + s
    elapsed = time.perf_counter() - started
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*) from features")
        total = cur.fetchone()[0]
        cur.execute("select count(*) from analysis_error")
        total_errors = cur.fetchone()[0]
    return dg.MaterializeResult(metadata={
        "analyzer_version": ANALYZER_VERSION, "analysed_this_run": done, "errors_this_run": errors,
        "tracks_per_second": round(done / elapsed, 3) if elapsed > 0 and done else 0.0,
        "realtime_factor": round(audio_seconds / elapsed, 1) if elapsed > 0 and done else 0.0,
        "tracks_with_features": total, "files_with_errors": total_errors,
        "scope": "every file that needs it" if config.paths is None else f"{len(config.paths)} listed files",
        "files_this_run": dg.MetadataValue.json(sorted(by_path)[:200])})


def _save(database: DatabaseResource, by_path: dict, results: list, context) -> tuple[int, int, float]:
    done = errors = 0
    seconds = 0.0
    if not results:
        return 0, 0, 0.0
    with database.connect() as conn, conn.cursor() as cur:
        for result in results:
            track_id, digest = by_path[result.path]
            if result.features is not None:
                store.save_features(cur, track_id, digest, result.features)
                seconds += result.features.get("duration_s") or 0.0
                done += 1
            else:
                store.save_error(cur, track_id, result.path, digest, ANALYZER_VERSION, result.error)
                context.log.warning(f"analysis failed for {result.path}: {result.error}")
                errors += 1
    return done, errors, seconds


@dg.asset(group_name="analysis", deps=[audio_features], kinds={"python", "pgvector"})
def track_vectors(context: dg.AssetExecutionContext, database: DatabaseResource,
                  device: DeviceResource) -> dg.MaterializeResult:
    """The handcrafted `mir-v1` vector of every analysed track, in `embeddings` (pgvector, HNSW
    index). Learned embeddings (musicnn) join this table on the selected device."""
    chosen = device.select(context.log)
    with database.connect() as conn, conn.cursor() as cur:
        count = store.embed_all(cur)
    return dg.MaterializeResult(metadata={"model": vectors.MODEL, "dim": vectors.DIM,
                                          "vectors": count, "device": chosen})
