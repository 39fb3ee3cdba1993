"""Tags and embeddings of a whole track with musicnn.

The signal is cut into 3 s patches exactly as the original extractor does (no overlap, the
incomplete tail dropped; clips under 3 s are repeat-padded, see `features.make_patches`), every
patch goes through the network, and the per-patch outputs are summarised:

* ``tags``: mean over patches of the 50 tag probabilities (the original's taggram, averaged);
* ``penultimate_mean``: mean of the 200-d penultimate layer (the usual musicnn embedding);
* ``penultimate_meanstd``: [mean, std] of the penultimate layer, L2-normalised (400-d): the
  vector to store for similarity search (cosine = dot product).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sidetrack_pipeline.models.musicnn import features
from sidetrack_pipeline.models.musicnn.fetch import MusicnnModel

# Patches per forward pass. On CPU the front-end's large activations (~30 MB per patch) make
# big batches memory-bound: batch 1 measured fastest on a 2-core box (benchmarks/RESULTS.md);
# GPUs want large batches.
CPU_BATCH_SIZE = 1
CUDA_BATCH_SIZE = 32
# Stored with every vector: a new port or new weights mean every track is embedded again.
MODEL_VERSION = "musicnn-0.1.0/torch-port-1"


@dataclass(frozen=True)
class EmbeddingResult:
    model: str
    tags: dict[str, float]  # tag -> mean probability over patches
    penultimate_mean: np.ndarray  # (200,) float32
    penultimate_meanstd: np.ndarray  # (400,) float32, unit L2 norm
    n_patches: int


@functools.lru_cache(maxsize=8)
def _cached_model(name: str, device: str, cache_dir: str) -> MusicnnModel:
    from sidetrack_pipeline.models.registry import load_model

    return load_model(name, device=device, cache_dir=Path(cache_dir))


def get_model(name: str, device: str = "cpu") -> MusicnnModel:
    """`registry.load_model`, memoised per (name, device, cache dir) for repeated embedding."""
    from sidetrack_pipeline.models.cache import models_dir

    return _cached_model(name, _resolve_device(device), str(models_dir()))


def _resolve_device(device: str | None) -> str:
    if device in (None, "auto"):
        from sidetrack_pipeline.devices import select_device

        return select_device("auto")[0]
    return str(device)


def _predict(model: MusicnnModel, patches: np.ndarray, batch_size: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (n, 50), penultimate (n, 200)) for (n, 187, 96) patches."""
    probs, pens = [], []
    with torch.inference_mode():
        for start in range(0, len(patches), batch_size):
            batch = torch.from_numpy(patches[start:start + batch_size]).to(model.device)
            logits, penultimate = model.net(batch)
            probs.append(torch.sigmoid(logits).float().cpu().numpy())
            pens.append(penultimate.float().cpu().numpy())
    return np.concatenate(probs), np.concatenate(pens)


def embed_signal(mono_16k: np.ndarray, model: MusicnnModel | str, device: str | None = None,
                 batch_size: int | None = None) -> EmbeddingResult:
    """Tags and embeddings of a mono 16 kHz signal.

    `model`: a loaded `MusicnnModel`, or a name ("msd-musicnn" / "mtt-musicnn") to load from
    the cache (fetching it on first use) onto `device` ("cpu", "cuda", "auto"; default cpu).
    A loaded model runs where it was loaded; `device` must then be None or agree.
    `batch_size`: patches per forward pass (default 1 on CPU, 32 on CUDA); it does not change
    the results beyond float rounding.
    """
    if isinstance(model, str):
        model = get_model(model, device or "cpu")
    elif device is not None and torch.device(_resolve_device(device)) != model.device:
        raise ValueError(f"model {model.name} is on {model.device}, not {device}")
    return embed_signals([mono_16k], model, batch_size=batch_size)[0]


def _checked(mono_16k: np.ndarray) -> np.ndarray:
    signal = np.asarray(mono_16k, dtype=np.float32)
    if signal.ndim != 1 or signal.size == 0:
        raise ValueError(f"expected a non-empty mono signal, got shape {signal.shape}")
    if not np.isfinite(signal).all():
        raise ValueError("signal contains NaN or infinity")
    return signal


def _summarise(model: MusicnnModel, probs: np.ndarray, pens: np.ndarray) -> EmbeddingResult:
    mean = pens.mean(axis=0, dtype=np.float64)
    meanstd = np.concatenate([mean, pens.std(axis=0, dtype=np.float64)])
    meanstd /= max(np.linalg.norm(meanstd), 1e-12)
    tag_means = probs.mean(axis=0, dtype=np.float64)
    return EmbeddingResult(
        model=model.name,
        tags={tag: float(p) for tag, p in zip(model.tags, tag_means, strict=True)},
        penultimate_mean=mean.astype(np.float32),
        penultimate_meanstd=meanstd.astype(np.float32),
        n_patches=int(len(pens)),
    )


def embed_signals(signals: list[np.ndarray], model: MusicnnModel, batch_size: int | None = None
                  ) -> list[EmbeddingResult]:
    """Embed several tracks at once: their patches share forward passes (what keeps a GPU busy),
    then each track's outputs are summarised on their own. Same results as one at a time."""
    if batch_size is None:
        batch_size = CUDA_BATCH_SIZE if model.device.type == "cuda" else CPU_BATCH_SIZE
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    per_track = [features.make_patches(features.log_mel(_checked(s))) for s in signals]
    probs, pens = _predict(model, np.concatenate(per_track), batch_size)
    bounds = np.cumsum([0] + [len(p) for p in per_track])
    return [_summarise(model, probs[a:b], pens[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def embed_file(path: str | Path, model_name: str = "msd-musicnn", device: str = "cpu",
               excerpt_seconds: float = 0.0, batch_size: int | None = None
               ) -> EmbeddingResult:
    """Decode `path` (`audio.decode.load_audio`), downmix to mono ((L+R)/2, as librosa does),
    resample to 16 kHz (polyphase) and embed it; `excerpt_seconds` > 0 uses a centred excerpt.

    Raises `AudioDecodeError` for undecodable files and `ModelNotAvailableError` when the
    weights are missing and cannot be fetched.
    """
    from sidetrack_pipeline.audio.decode import load_audio

    model = get_model(model_name, device)
    decoded = load_audio(path, excerpt_seconds=excerpt_seconds)
    return embed_signal(decoded.mono_at(features.SAMPLE_RATE), model, batch_size=batch_size)
