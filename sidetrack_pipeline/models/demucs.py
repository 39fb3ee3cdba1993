"""Hybrid Transformer Demucs (Rouard, Massa & Défossez, ICASSP 2023) source separation through
the `demucs` package (4.1.0, MIT; its model classes import without torchaudio), loaded only from
a model file the user names -- never through ``demucs.pretrained.get_model``, which downloads.

Official weights: the htdemucs model package ``955717e8-8726e21a.th`` (~80 MB) from
https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th (listed in
demucs' ``remote/files.txt``; ``htdemucs_ft``'s four files and ``htdemucs_6s``' one also load).
It is demucs' package format, a dict ``{"klass", "args", "kwargs", "state", ...}``; point
``SIDETRACK_DEMUCS_CHECKPOINT`` at it. The file is read with ``torch.load(weights_only=True)``,
allowing only demucs' model classes as pickled globals, and the state is loaded strictly
(quantized/DiffQ files are not supported).

`DemucsModel.separate(stereo, sr)` returns ``{stem: (2, samples) float32}`` at the input rate
(drums, bass, other, vocals for htdemucs), used for stem-based features such as pumpiness.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sidetrack_pipeline.models import registry

log = logging.getLogger(__name__)

ENV_VAR = "SIDETRACK_DEMUCS_CHECKPOINT"
MODEL_TITLE = "Demucs (htdemucs)"
HOW_TO_GET = (f"Expected a demucs model package such as htdemucs' '955717e8-8726e21a.th' "
              f"(~80 MB) from https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/"
              f"955717e8-8726e21a.th (Meta AI, MIT); download it yourself and set {ENV_VAR} "
              f"to its path.")
STEMS = ("drums", "bass", "other", "vocals")


def _model_classes() -> tuple[type, ...]:
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return (HTDemucs, HDemucs, Demucs)


@dataclass
class DemucsModel:
    net: torch.nn.Module
    device: torch.device
    path: Path | None = None
    shifts: int = 0
    overlap: float = 0.25

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.net.sources)

    @property
    def sample_rate(self) -> int:
        return int(self.net.samplerate)

    def separate(self, stereo: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        """Stems of a (2, n) or (n, 2) signal (mono (n,) is duplicated) at rate `sr`:
        ``{stem: (2, n') float32}`` at `sr` (n' = n up to resampling rounding)."""
        from demucs.apply import apply_model

        from sidetrack_pipeline.audio.decode import resample

        x = np.asarray(stereo, dtype=np.float32)
        if x.ndim == 1:
            x = np.stack([x, x])
        elif x.ndim == 2 and x.shape[0] != 2 and x.shape[1] == 2:
            x = x.T
        if x.ndim != 2 or x.shape[0] != 2 or x.shape[1] == 0 or not np.isfinite(x).all():
            raise ValueError(f"expected a finite stereo signal (2, n), got {x.shape}")
        n_in = x.shape[1]
        y = np.stack([resample(ch, int(sr), self.sample_rate) for ch in x])
        wav = torch.from_numpy(y)
        ref = wav.mean(0)
        mean, std = ref.mean(), ref.std()
        std = std if float(std) > 1e-8 else torch.tensor(1.0)
        with torch.inference_mode():
            out = apply_model(self.net, ((wav - mean) / std)[None], shifts=self.shifts,
                              split=True, overlap=self.overlap, progress=False,
                              device=self.device, num_workers=0)[0]
        out = (out * std + mean).float().cpu().numpy()
        stems = {}
        for name, stem in zip(self.sources, out, strict=True):
            back = np.stack([resample(ch, self.sample_rate, int(sr)) for ch in stem])
            stems[name] = np.ascontiguousarray(back[:, :n_in] if back.shape[1] >= n_in else
                                               np.pad(back, ((0, 0), (0, n_in - back.shape[1]))))
        return stems

    def embed(self, mono: np.ndarray, sr: int) -> np.ndarray:
        raise NotImplementedError("Demucs separates sources; it has no embedding "
                                  "(use .separate(stereo, sr))")


def load_demucs(path: str | Path | None = None, device: str = "cpu") -> DemucsModel:
    """A demucs model package from `path` (default: $SIDETRACK_DEMUCS_CHECKPOINT), loaded
    strictly onto `device`."""
    what = f"{MODEL_TITLE} weights"
    ckpt = registry.weights_path(path, ENV_VAR, what, HOW_TO_GET)
    with registry.offline():
        try:
            classes = _model_classes()
        except ImportError as exc:
            raise registry.ModelNotAvailableError(
                f"Demucs needs the demucs package (pip install demucs==4.1.0 --no-deps "
                f"einops julius): {exc}") from exc
        from fractions import Fraction  # demucs hyper-parameters (segment) may be Fractions

        package = registry.read_checkpoint(ckpt, what, ENV_VAR, HOW_TO_GET,
                                           safe_globals=(*classes, Fraction))
        if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(
                package):
            found = sorted(map(str, package))[:6] if isinstance(package, dict) else \
                type(package).__name__
            raise registry.ModelNotAvailableError(
                f"{what}: {ckpt} (from {ENV_VAR}) is not a demucs model package: expected a "
                f"dict with 'klass', 'args', 'kwargs', 'state', found {found}. {HOW_TO_GET}")
        klass, args, kwargs = package["klass"], package["args"], dict(package["kwargs"])
        if klass not in classes:
            raise registry.ModelNotAvailableError(
                f"{what}: {ckpt} holds a {klass!r}, not a demucs model. {HOW_TO_GET}")
        state = package["state"]
        if isinstance(state, dict) and state.get("__quantized"):
            raise registry.ModelNotAvailableError(
                f"{what}: {ckpt} is a quantized (DiffQ) model, not supported; use the "
                f"non-quantized file. {HOW_TO_GET}")
        params = inspect.signature(klass).parameters
        for key in [k for k in kwargs if k not in params]:  # as demucs.states.load_model
            log.warning("demucs: dropping unknown model parameter %s", key)
            del kwargs[key]
        try:
            net = klass(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - bad hyper-parameters in the file
            raise registry.ModelNotAvailableError(
                f"{what}: {ckpt} has model arguments {klass.__name__} cannot be built with "
                f"({type(exc).__name__}: {exc}). {HOW_TO_GET}") from exc
        registry.load_strict(net, state, what, ckpt, ENV_VAR, HOW_TO_GET)
    dev = torch.device(device)
    return DemucsModel(net=net.to(dev).eval(), device=dev, path=ckpt)
