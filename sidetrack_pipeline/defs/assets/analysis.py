"""Audio analysis: handcrafted MIR features per matched file, then the track vectors."""


import time

import dagster as dg

from sidetrack_pipeline.audio.batch import analyze_many
from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.defs.assets.library import track_files
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource
from sidetrack_pipeline.scoring import store, vectors
from sidetrack_pipeline.settings import get_settings

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
    started = time.perf_counter()
    results = analyze_many(by_path, workers=settings.analysis_workers,
                           excerpt_seconds=settings.excerpt_seconds)
    tally = store.store_results(database.connect, by_path, results, ANALYZER_VERSION, context.log)
    done, errors, audio_seconds = tally.analysed, tally.errors, tally.audio_seconds
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
