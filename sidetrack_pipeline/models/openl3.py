"""OpenL3 (Cramer et al., "Look, Listen and Learn More", ICASSP 2019) through the `torchopenl3`
package's PyTorch port (``torchopenl3.models.PytorchOpenl3``, MIT), loaded only from a weights
file the user names -- never with torchopenl3's own ``load_audio_embedding_model``, which fetches
the weights from GitHub through ``torch.hub``.

Official weights (torchopenl3's conversion of the OpenL3 Keras models): a plain state dict,
``torchopenl3_<input_repr>_<content_type>_<embedding_size>.pth.tar`` from
https://github.com/torchopenl3/torchopenl3-models (SideTrack's "openl3" uses
``torchopenl3_mel128_music_512.pth.tar``); point ``SIDETRACK_OPENL3_WEIGHTS`` at it.

Embedding: 1 s frames of 48 kHz mono with a 0.5 s hop (centred, zero padded, as torchopenl3),
through the network; the stored vector is the mean over frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sidetrack_pipeline.models import registry

ENV_VAR = "SIDETRACK_OPENL3_WEIGHTS"
MODEL_TITLE = "OpenL3"
SAMPLE_RATE = 48000
HOP_SECONDS = 0.5
_MEL_BINS = {"mel128": 128, "mel256": 256}


def _how_to_get(input_repr: str = "mel128", content_type: str = "music",
                embedding_size: int = 512) -> str:
    name = f"torchopenl3_{input_repr}_{content_type}_{embedding_size}.pth.tar"
    return (f"Expected the torchopenl3 weights file '{name}' (a PyTorch state dict, "
            f"~20 MB) from https://github.com/torchopenl3/torchopenl3-models (the OpenL3 "
            f"models of Cramer et al. converted by the torchopenl3 project); download it "
            f"yourself and set {ENV_VAR} to its path.")


HOW_TO_GET = _how_to_get()


@dataclass
class OpenL3Model:
    net: torch.nn.Module
    device: torch.device
    input_repr: str
    content_type: str
    embedding_size: int
    path: Path | None = None
    sample_rate: int = SAMPLE_RATE

    @property
    def embedding_dim(self) -> int:
        return self.embedding_size

    def frames(self, mono: np.ndarray, sr: int) -> np.ndarray:
        """(n_frames, embedding_size) float32 frame embeddings."""
        from torchopenl3.utils import preprocess_audio_batch

        from sidetrack_pipeline.audio.decode import resample

        signal = np.asarray(mono, dtype=np.float32)
        if signal.ndim != 1 or signal.size == 0 or not np.isfinite(signal).all():
            raise ValueError(f"expected a finite, non-empty mono signal, got {signal.shape}")
        y = torch.from_numpy(resample(signal, int(sr), SAMPLE_RATE))[None, :]
        x = preprocess_audio_batch(y, SAMPLE_RATE, center=True, hop_size=HOP_SECONDS,
                                   sampler="julian").to(torch.float32)  # (n, 1, 48000)
        outs = []
        with torch.inference_mode():
            for start in range(0, x.shape[0], 16):
                out = self.net(x[start:start + 16].to(self.device))
                outs.append(out.reshape(out.shape[0], -1).float().cpu().numpy())
        return np.concatenate(outs)

    def embed(self, mono: np.ndarray, sr: int) -> np.ndarray:
        """(embedding_size,) float32: mean of the frame embeddings."""
        return self.frames(mono, sr).mean(axis=0).astype(np.float32)


def load_openl3(path: str | Path | None = None, device: str = "cpu", input_repr: str = "mel128",
                content_type: str = "music", embedding_size: int = 512) -> OpenL3Model:
    """OpenL3 from `path` (default: $SIDETRACK_OPENL3_WEIGHTS), loaded strictly onto `device`."""
    if input_repr not in _MEL_BINS or embedding_size not in (512, 6144) or \
            content_type not in ("music", "env"):
        raise ValueError("OpenL3: input_repr mel128|mel256, content_type music|env, "
                         "embedding_size 512|6144")
    how = _how_to_get(input_repr, content_type, embedding_size)
    what = f"{MODEL_TITLE} ({content_type}, {input_repr}, {embedding_size}-d) weights"
    ckpt = registry.weights_path(path, ENV_VAR, what, how)
    with registry.offline():
        try:
            from torchopenl3.models import PytorchOpenl3
        except ImportError as exc:
            raise registry.ModelNotAvailableError(
                f"OpenL3 needs the torchopenl3 package (pip install torchopenl3==1.0.1 "
                f"--no-deps julius resampy): {exc}") from exc
        state = registry.read_checkpoint(ckpt, what, ENV_VAR, how)
        if isinstance(state, dict) and "state_dict" in state and isinstance(
                state["state_dict"], dict):
            state = state["state_dict"]
        net = PytorchOpenl3(content_type=content_type, input_repr=input_repr,
                            embedding_size=embedding_size)
        # The file's mel filterbank must be the one of `input_repr`; the strict load checks
        # every key and shape (speclayer.mel_basis has 128 or 256 rows).
        registry.load_strict(net, state, what, ckpt, ENV_VAR, how)
    dev = torch.device(device)
    return OpenL3Model(net=net.to(dev).eval(), device=dev, input_repr=input_repr,
                       content_type=content_type, embedding_size=embedding_size, path=ckpt)
