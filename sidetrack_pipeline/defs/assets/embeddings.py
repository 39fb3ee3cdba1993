"""Learned embeddings: pretrained models (musicnn) over every matched file, on the chosen device."""

import os
import time
from pathlib import Path

import dagster as dg

from sidetrack_pipeline.audio.decode import load_audio
from sidetrack_pipeline.defs.assets.library import track_files
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource
from sidetrack_pipeline.models.musicnn import features as musicnn_features
from sidetrack_pipeline.models.musicnn.embed import MODEL_VERSION, embed_signals
from sidetrack_pipeline.models.registry import get_spec, load_model
from sidetrack_pipeline.scoring.embedding_store import save_embedding, save_vector, tracks_to_embed
from sidetrack_pipeline.settings import get_settings

TRACKS_PER_BATCH = 8     # tracks whose patches share forward passes


def _oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


@dg.asset(group_name="analysis", deps=[track_files], kinds={"pytorch", "pgvector"}, pool="gpu")
def learned_embeddings(context: dg.AssetExecutionContext, database: DatabaseResource,
                       device: DeviceResource) -> dg.MaterializeResult:
    """musicnn (EMBEDDING_MODEL, default msd-musicnn): per track the 50 tag probabilities
    (`model_tags`) and the penultimate layer pooled over 3-s patches — mean (200-d, model
    `<name>-mean`) and L2-normalised mean+std (400-d, model `<name>`) — in `embeddings` (pgvector,
    HNSW). Runs on CUDA when present, batching patches across tracks; falls back to the CPU when
    CUDA is missing or runs out of memory. Tracks already embedded from the same file content
    with the same model version are skipped."""
    settings = get_settings()
    chosen = device.select(context.log)
    stats = {"device": chosen, "models": ", ".join(settings.embedding_models) or "none"}
    started, embedded, errors, audio_s = time.perf_counter(), 0, 0, 0.0
    for name in settings.embedding_models:
        spec = get_spec(name)
        if spec.family != "musicnn":
            if spec.embedding_dim == 0:
                context.log.info(f"{name} has no embedding (a separation model); skipped here")
                continue
            done, failed = _embed_with_vector_model(context, database, name, chosen, settings.excerpt_seconds)
            embedded, errors = embedded + done, errors + failed
            continue
        model = load_model(name, device=chosen)
        with database.connect() as conn, conn.cursor() as cur:
            todo = tracks_to_embed(cur, name, MODEL_VERSION)
        context.log.info(f"{name}: {len(todo)} tracks to embed on {chosen}")
        for start in range(0, len(todo), TRACKS_PER_BATCH):
            batch, signals = [], []
            for track_id, path, digest in todo[start:start + TRACKS_PER_BATCH]:
                try:
                    decoded = load_audio(path, excerpt_seconds=settings.excerpt_seconds)
                except Exception as exc:  # the analysis asset records decode errors; skip here
                    context.log.warning(f"{name}: cannot decode {path}: {exc}")
                    errors += 1
                    continue
                batch.append((track_id, digest))
                signals.append(decoded.mono_at(musicnn_features.SAMPLE_RATE))
                audio_s += len(signals[-1]) / musicnn_features.SAMPLE_RATE
            if not signals:
                continue
            try:
                results = embed_signals(signals, model)
            except RuntimeError as exc:
                if model.device.type != "cuda" or not _oom(exc):
                    raise
                context.log.warning(f"{name}: CUDA ran out of memory ({exc}); falling back to the CPU")
                model, chosen = load_model(name, device="cpu"), "cpu"
                stats["device"] = "cpu (fell back after CUDA OOM)"
                results = embed_signals(signals, model)
            with database.connect() as conn, conn.cursor() as cur:
                for (track_id, digest), result in zip(batch, results):
                    save_embedding(cur, track_id, digest, name, MODEL_VERSION, result.penultimate_meanstd,
                                   result.penultimate_mean, result.tags)
            embedded += len(results)
    elapsed = time.perf_counter() - started
    return dg.MaterializeResult(metadata={
        **stats, "model_version": MODEL_VERSION, "embedded_this_run": embedded, "errors_this_run": errors,
        "tracks_per_second": round(embedded / elapsed, 2) if embedded and elapsed else 0.0,
        "realtime_factor": round(audio_s / elapsed, 1) if embedded and elapsed else 0.0})


def _embed_with_vector_model(context, database: DatabaseResource, name: str, device: str,
                             excerpt_seconds: float) -> tuple[int, int]:
    """Models from user-given weights (PANNs, OpenL3): one pooled vector per track, no tags."""
    model = load_model(name, device=device)
    weights = Path(os.environ[get_spec(name).weights_env])   # load_model has checked it exists
    stat = weights.stat()
    version = f"{weights.name}:{stat.st_size}:{int(stat.st_mtime)}"   # other weights → recompute
    with database.connect() as conn, conn.cursor() as cur:
        todo = tracks_to_embed(cur, name, version)
    done = failed = 0
    for track_id, path, digest in todo:
        try:
            decoded = load_audio(path, excerpt_seconds=excerpt_seconds)
            vector = model.embed(decoded.mono, decoded.sample_rate)
        except Exception as exc:  # one bad file must not stop the batch
            context.log.warning(f"{name}: {path}: {exc}")
            failed += 1
            continue
        with database.connect() as conn, conn.cursor() as cur:
            save_vector(cur, track_id, digest, name, version, vector)
        done += 1
    return done, failed
