"""PANNs Cnn14 (Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition", 2020), loaded only from a checkpoint file the user names.

The network is re-implemented here, module for module, from ``panns_inference/models.py``
(panns-inference 0.1.1, MIT): that package's ``__init__`` runs ``wget`` for a label CSV at import
time and its ``models`` module imports matplotlib, so SideTrack does not import it. The front end
is the real one from `torchlibrosa` (``Spectrogram`` + ``LogmelFilterBank``, stored in the
checkpoint as ``spectrogram_extractor.*`` / ``logmel_extractor.*``); parameter names are those of
the official checkpoint, which therefore loads strictly.

Official weights: ``Cnn14_mAP=0.431.pth`` (Zenodo record 3987831,
https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth), a dict ``{"model": state_dict,
...}``; point ``SIDETRACK_PANNS_CHECKPOINT`` at it.

Embedding: Cnn14's 2048-d ``embedding`` output (after fc1 + ReLU) on 32 kHz mono, computed on
10 s windows (a shorter track is one window) and averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sidetrack_pipeline.models import registry

ENV_VAR = "SIDETRACK_PANNS_CHECKPOINT"
MODEL_TITLE = "PANNs Cnn14"
HOW_TO_GET = (f"Expected the official Cnn14 checkpoint 'Cnn14_mAP=0.431.pth' (~330 MB, a dict "
              f"with key 'model'), from https://zenodo.org/record/3987831 "
              f"(Kong et al., PANNs); download it yourself and set {ENV_VAR} to its path.")

# Cnn14's configuration for the 32 kHz AudioSet checkpoint (panns_inference.AudioTagging).
OFFICIAL_CONFIG = {"sample_rate": 32000, "window_size": 1024, "hop_size": 320, "mel_bins": 64,
                   "fmin": 50, "fmax": 14000, "classes_num": 527,
                   "widths": (64, 128, 256, 512, 1024, 2048)}
WINDOW_SECONDS = 10.0


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, (3, 3), (1, 1), (1, 1), bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (3, 3), (1, 1), (1, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int] = (2, 2),
                pool_type: str = "avg") -> torch.Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        if pool_type == "max":
            return F.max_pool2d(x, kernel_size=pool_size)
        if pool_type == "avg":
            return F.avg_pool2d(x, kernel_size=pool_size)
        return F.avg_pool2d(x, kernel_size=pool_size) + F.max_pool2d(x, kernel_size=pool_size)


class Cnn14(nn.Module):
    """Cnn14 as in panns_inference; `widths` (default the official 64..2048) exists only so
    tests can build a small instance. `forward` returns (clipwise sigmoid output, embedding)."""

    def __init__(self, sample_rate: int = 32000, window_size: int = 1024, hop_size: int = 320,
                 mel_bins: int = 64, fmin: int = 50, fmax: int = 14000, classes_num: int = 527,
                 widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)):
        super().__init__()
        from torchlibrosa.stft import LogmelFilterBank, Spectrogram

        if len(widths) != 6:
            raise ValueError("Cnn14 has six conv blocks")
        self.spectrogram_extractor = Spectrogram(
            n_fft=window_size, hop_length=hop_size, win_length=window_size, window="hann",
            center=True, pad_mode="reflect", freeze_parameters=True)
        self.logmel_extractor = LogmelFilterBank(
            sr=sample_rate, n_fft=window_size, n_mels=mel_bins, fmin=fmin, fmax=fmax,
            ref=1.0, amin=1e-10, top_db=None, freeze_parameters=True)
        # (SpecAugmentation is training-only and has no parameters: omitted.)
        self.bn0 = nn.BatchNorm2d(mel_bins)
        chans = (1, *widths)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", ConvBlock(chans[i], chans[i + 1]))
        self.fc1 = nn.Linear(widths[-1], widths[-1], bias=True)
        self.fc_audioset = nn.Linear(widths[-1], classes_num, bias=True)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`waveform`: (batch, samples) at `sample_rate`."""
        x = self.spectrogram_extractor(waveform)  # (B, 1, T, freq)
        x = self.logmel_extractor(x)  # (B, 1, T, mel)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(6):
            block = getattr(self, f"conv_block{i + 1}")
            x = block(x, pool_size=(2, 2) if i < 5 else (1, 1), pool_type="avg")
            x = F.dropout(x, p=0.2, training=self.training)
        x = torch.mean(x, dim=3)
        x = torch.max(x, dim=2)[0] + torch.mean(x, dim=2)
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.relu_(self.fc1(x))
        embedding = F.dropout(x, p=0.5, training=self.training)
        clipwise = torch.sigmoid(self.fc_audioset(x))
        return clipwise, embedding


@dataclass
class PannsModel:
    net: Cnn14
    device: torch.device
    sample_rate: int = 32000
    path: Path | None = None
    config: dict = field(default_factory=dict, repr=False)

    @property
    def embedding_dim(self) -> int:
        return int(self.net.fc1.out_features)

    def embed(self, mono: np.ndarray, sr: int) -> np.ndarray:
        """(2048,) float32: mean of Cnn14's embedding over 10 s windows of the track."""
        from sidetrack_pipeline.audio.decode import resample

        signal = np.asarray(mono, dtype=np.float32)
        if signal.ndim != 1 or signal.size == 0 or not np.isfinite(signal).all():
            raise ValueError(f"expected a finite, non-empty mono signal, got {signal.shape}")
        y = resample(signal, int(sr), self.sample_rate)
        win = int(WINDOW_SECONDS * self.sample_rate)
        if y.size <= win:
            windows = y[None, :]
        else:
            n = y.size // win  # full windows only (the tail is dropped)
            windows = y[:n * win].reshape(n, win)
        outs = []
        with torch.inference_mode():
            for start in range(0, len(windows), 4):
                batch = torch.from_numpy(np.ascontiguousarray(windows[start:start + 4]))
                outs.append(self.net(batch.to(self.device))[1].float().cpu().numpy())
        return np.concatenate(outs).mean(axis=0).astype(np.float32)


def load_panns(path: str | Path | None = None, device: str = "cpu",
               config: dict | None = None) -> PannsModel:
    """Cnn14 from `path` (default: $SIDETRACK_PANNS_CHECKPOINT), loaded strictly onto `device`.
    `config` overrides the official architecture settings (tests only)."""
    what = f"{MODEL_TITLE} weights"
    ckpt = registry.weights_path(path, ENV_VAR, what, HOW_TO_GET)
    cfg = {**OFFICIAL_CONFIG, **(config or {})}
    with registry.offline():
        obj = registry.read_checkpoint(ckpt, what, ENV_VAR, HOW_TO_GET)
        if not isinstance(obj, dict) or "model" not in obj:
            keys = list(obj)[:5] if isinstance(obj, dict) else type(obj).__name__
            raise registry.ModelNotAvailableError(
                f"{what}: {ckpt} (from {ENV_VAR}) is not a PANNs checkpoint: expected a dict "
                f"with key 'model', found {keys}. {HOW_TO_GET}")
        try:
            net = Cnn14(**cfg)
        except ImportError as exc:
            raise registry.ModelNotAvailableError(
                f"PANNs needs the torchlibrosa package (pip install torchlibrosa==0.1.0, the "
                f"'models' extra): {exc}") from exc
        registry.load_strict(net, obj["model"], what, ckpt, ENV_VAR, HOW_TO_GET)
    dev = torch.device(device)
    return PannsModel(net=net.to(dev).eval(), device=dev, sample_rate=cfg["sample_rate"],
                      path=ckpt, config=cfg)
