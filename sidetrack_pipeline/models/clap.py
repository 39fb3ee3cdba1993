"""LAION-CLAP (Wu, Chen et al., "Large-scale Contrastive Language-Audio Pretraining with Feature
Fusion and Keyword-to-Caption Augmentation", ICASSP 2023), loaded only from files the user names.

Files
-----
* ``SIDETRACK_CLAP_CHECKPOINT``: a laion_clap checkpoint from https://huggingface.co/lukewys/laion_clap
  (CC0), a dict ``{"state_dict": {"module.audio_branch.…", "module.text_branch.…", …}, …}``:
  ``630k-audioset-best.pt`` / ``630k-best.pt`` (HTSAT-tiny), ``music_audioset_epoch_15_esc_90.14.pt``
  and the other "music"/"speech" ones (HTSAT-base), or ``630k-audioset-fusion-best.pt`` /
  ``630k-fusion-best.pt`` (HTSAT-tiny with feature fusion). The audio encoder (tiny or base, fusion
  or not) is read off the checkpoint's tensor names and shapes.
* ``SIDETRACK_CLAP_TOKENIZER``: a local folder with the ``roberta-base`` tokenizer files
  (``vocab.json``, ``merges.txt``) from https://huggingface.co/FacebookAI/roberta-base.

Why not the `laion_clap` package: it imports torchvision (``clap_module/utils.py``,
``training/data.py``), which does not load beside SideTrack's torch==2.13.0 CPU build, and it
calls ``RobertaModel.from_pretrained('roberta-base')`` / ``RobertaTokenizer.from_pretrained(...)``
(hub downloads, no way to pass local paths). So the model is re-implemented here with the
checkpoint's parameter names:

* ``audio_branch``: HTS-AT, vendored in `clap_htsat` (see its provenance notes);
* ``text_branch``: ``transformers.RobertaModel`` built from roberta-base's configuration written
  out below (`ROBERTA_BASE`), never ``from_pretrained``; its weights come from the checkpoint;
* ``audio_projection`` / ``text_projection``: Linear-ReLU-Linear to the 512-d joint space;
  ``audio_transform`` / ``text_transform`` (training-only MLPs) and ``logit_scale_a/_t`` are
  declared so the checkpoint loads strictly, and are unused.

The checkpoint must match exactly (`registry.load_strict`: missing, unexpected and mis-shaped
tensors are named), with one tolerated extra: ``text_branch.embeddings.position_ids``, a constant
buffer that transformers < 4.31 saved and the released checkpoints carry. They are read with
``torch.load(weights_only=True)`` allowing NumPy scalars (the checkpoints store a few); a file in
a pickle protocol the weights-only reader does not know (>= 3) is read by a restricted unpickler
that admits only tensor storage, OrderedDict and NumPy scalar/dtype globals (`_read_checkpoint`).
Everything is loaded inside `registry.offline()`; nothing is downloaded.

Inference, as laion_clap's ``CLAP_Module.get_audio_embedding_from_data`` / ``get_text_embedding``
-------------------------------------------------------------------------------------------------
Audio: mono at 48 kHz (resampled with scipy's ``resample_poly`` when the input rate differs),
quantised to int16 and back (``int16_to_float32(float32_to_int16(x))``), then 10 s windows of
480000 samples. A signal of at most 10 s is one window, repeated whole and zero padded to 10 s
(laion_clap's ``repeatpad``). A longer one -- where laion_clap crops one random 10 s window
(non-fusion) or fuses random chunks (fusion) -- is covered by ``ceil(n / 480000)`` windows,
evenly spaced from the start to the end (consecutive ones overlap by less than a window); each
window is embedded as a <= 10 s input and the unit vectors are averaged and re-normalised.
Per window: torchlibrosa log-mel (window 1024, hop 480, 64 mels, 50-14000 Hz; the fusion model
instead uses laion_clap's torchaudio-style HTK mel power in dB, reproduced by `TorchaudioLogMel`),
HTS-AT ``embedding`` -> ``audio_projection`` -> L2 normalisation -> 512-d.

Text: the RoBERTa tokenizer with ``padding="max_length", truncation=True, max_length=77``,
``text_branch`` (input ids + attention mask) -> ``pooler_output`` -> ``text_projection`` -> L2
normalisation -> 512-d. Audio and text vectors live in the same space (cosine = dot product).
"""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sidetrack_pipeline.models import registry

ENV_VAR = "SIDETRACK_CLAP_CHECKPOINT"
TOKENIZER_ENV_VAR = "SIDETRACK_CLAP_TOKENIZER"
MODEL_TITLE = "LAION-CLAP"
HOW_TO_GET = (f"Expected a laion_clap checkpoint such as 'music_audioset_epoch_15_esc_90.14.pt' "
              f"or '630k-audioset-best.pt' (a dict with 'state_dict') from "
              f"https://huggingface.co/lukewys/laion_clap, with {ENV_VAR} set to its path, and "
              f"{TOKENIZER_ENV_VAR} set to a local folder holding the roberta-base tokenizer "
              f"files (vocab.json, merges.txt) from https://huggingface.co/FacebookAI/roberta-base.")
TOKENIZER_FILES = ("vocab.json", "merges.txt")

SAMPLE_RATE = 48000
CLIP_SAMPLES = 480000  # 10 s windows
MAX_TEXT_TOKENS = 77
JOINT_DIM = 512
# laion_clap's audio_cfg for HTSAT-tiny/-base (model_configs/HTSAT-*.json)
AUDIO_CFG = {"sample_rate": SAMPLE_RATE, "window": 1024, "hop_size": 480, "mel_bins": 64,
             "fmin": 50, "fmax": 14000}
HTSAT_GEOMETRY = {"spec_size": 256, "patch_size": 4, "patch_stride": (4, 4), "window_size": 8}
HTSAT_VARIANTS = {"HTSAT-tiny": (96, (2, 2, 6, 2)), "HTSAT-base": (128, (2, 2, 12, 2))}
# FacebookAI/roberta-base's config.json, written out: the checkpoint's text_branch.* must fit it.
ROBERTA_BASE: dict[str, Any] = {
    "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 514, "type_vocab_size": 1,
    "initializer_range": 0.02, "layer_norm_eps": 1e-05, "pad_token_id": 1, "bos_token_id": 0,
    "eos_token_id": 2, "position_embedding_type": "absolute"}
# Non-parameter tensors some released checkpoints carry that the model (rightly) lacks: dropped.
TOLERATED_EXTRA_KEYS = ("text_branch.embeddings.position_ids",)
AUDIO_BATCH = 4  # 10 s windows per forward pass


def tokenizer_dir(path: str | Path | None = None) -> Path:
    """`path`, or else $SIDETRACK_CLAP_TOKENIZER: a folder with roberta-base's tokenizer files."""
    what = f"{MODEL_TITLE} tokenizer"
    if path is None:
        value = os.environ.get(TOKENIZER_ENV_VAR, "").strip()
        if not value:
            raise registry.ModelNotAvailableError(
                f"{what}: set {TOKENIZER_ENV_VAR} to a folder with the roberta-base tokenizer "
                f"files. {HOW_TO_GET}")
        path = value
    folder = Path(path).expanduser()
    missing = [f for f in TOKENIZER_FILES if not (folder / f).is_file()]
    if missing:
        raise registry.ModelNotAvailableError(
            f"{what}: {folder} (from {TOKENIZER_ENV_VAR}) lacks {', '.join(missing)}. "
            f"{HOW_TO_GET}")
    return folder


# --- the network ----------------------------------------------------------------------------------

class MLPLayers(nn.Module):
    """laion_clap's ``MLPLayers`` (Linear-ReLU-Dropout-Linear): ``audio_transform`` /
    ``text_transform``, used only by its training loss; kept for the strict load."""

    def __init__(self, units: tuple[int, ...] = (512, 512, 512), dropout: float = 0.1):
        super().__init__()
        seq: list[nn.Module] = []
        for u0, u1 in zip(units[:-1], units[1:]):
            seq += [nn.Linear(u0, u1), nn.ReLU(), nn.Dropout(dropout)]
        self.sequential = nn.Sequential(*seq[:-2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sequential(x)


class TorchaudioLogMel(nn.Module):
    """The fusion model's front end, laion_clap ``training/data.py:get_mel``:
    ``torchaudio.transforms.MelSpectrogram(center=True, pad_mode="reflect", power=2, norm=None,
    mel_scale="htk")`` then ``AmplitudeToDB(top_db=None)``, in plain torch (no torchaudio).
    (B, samples) -> (B, 1, frames, n_mels)."""

    def __init__(self, sample_rate: int = 48000, n_fft: int = 1024, hop: int = 480,
                 n_mels: int = 64, f_min: float = 50.0, f_max: float = 14000.0):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

        def hz_to_mel(f: float) -> float:
            return 2595.0 * math.log10(1.0 + f / 700.0)

        n_freqs = n_fft // 2 + 1
        all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
        m_pts = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
        f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
        f_diff = f_pts[1:] - f_pts[:-1]
        slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
        down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
        up = slopes[:, 2:] / f_diff[1:]
        fb = torch.max(torch.zeros(1), torch.min(down, up))  # (n_freqs, n_mels)
        self.register_buffer("fb", fb, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(waveform, n_fft=self.n_fft, hop_length=self.hop, win_length=self.n_fft,
                          window=self.window, center=True, pad_mode="reflect", normalized=False,
                          onesided=True, return_complex=True).abs().pow(2.0)  # (B, freq, T)
        mel = torch.matmul(spec.transpose(-1, -2), self.fb)  # (B, T, n_mels)
        return (10.0 * torch.log10(torch.clamp(mel, min=1e-10)))[:, None]


class ClapNet(nn.Module):
    """laion_clap's ``CLAP`` with an HTSAT audio branch and a RoBERTa text branch (inference)."""

    def __init__(self, htsat: dict[str, Any] | None = None, text_config: dict[str, Any] | None = None,
                 fusion: bool = False):
        super().__init__()
        from transformers import RobertaConfig, RobertaModel

        from sidetrack_pipeline.models.clap_htsat import HTSATSwinTransformer

        htsat = {"embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (4, 8, 16, 32),
                 "num_classes": 527, **(htsat or {})}
        self.fusion = fusion
        self.audio_branch = HTSATSwinTransformer(**HTSAT_GEOMETRY, **AUDIO_CFG, **htsat,
                                                 enable_fusion=fusion)
        config = RobertaConfig(**{**ROBERTA_BASE, **(text_config or {})})
        self.text_branch = RobertaModel(config, add_pooling_layer=True)
        width = config.hidden_size
        self.text_transform = MLPLayers((JOINT_DIM, JOINT_DIM, JOINT_DIM))
        self.text_projection = nn.Sequential(nn.Linear(width, JOINT_DIM), nn.ReLU(),
                                             nn.Linear(JOINT_DIM, JOINT_DIM))
        self.audio_transform = MLPLayers((JOINT_DIM, JOINT_DIM, JOINT_DIM))
        self.audio_projection = nn.Sequential(
            nn.Linear(self.audio_branch.num_features, JOINT_DIM), nn.ReLU(),
            nn.Linear(JOINT_DIM, JOINT_DIM))
        self.logit_scale_a = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
        self.logit_scale_t = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
        self.fusion_mel = TorchaudioLogMel(
            SAMPLE_RATE, AUDIO_CFG["window"], AUDIO_CFG["hop_size"], AUDIO_CFG["mel_bins"],
            AUDIO_CFG["fmin"], AUDIO_CFG["fmax"]) if fusion else None

    def audio_embedding(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, 480000) prepared windows -> (B, 512) unit vectors."""
        if self.fusion:
            emb = self.audio_branch.forward_mel(self.fusion_mel(windows))
        else:
            emb = self.audio_branch(windows)
        return F.normalize(self.audio_projection(emb), dim=-1)

    def text_embedding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                       ) -> torch.Tensor:
        """Token ids and mask (B, 77) -> (B, 512) unit vectors."""
        pooled = self.text_branch(input_ids=input_ids, attention_mask=attention_mask
                                  )["pooler_output"]
        return F.normalize(self.text_projection(pooled), dim=-1)


# --- preprocessing (laion_clap's inference path) -----------------------------------------------

def quantize_int16(x: np.ndarray) -> np.ndarray:
    """laion_clap's ``int16_to_float32(float32_to_int16(x))``, with the same NumPy operations."""
    x = np.clip(np.asarray(x, dtype=np.float32), a_min=-1., a_max=1.)
    return ((x * 32767.).astype(np.int16) / 32767.0).astype(np.float32)


def repeat_pad(x: np.ndarray, max_len: int = CLIP_SAMPLES) -> np.ndarray:
    """laion_clap's ``repeatpad`` for an input of at most `max_len` samples: whole repeats, then
    zeros up to `max_len`."""
    if x.size >= max_len:
        return x[:max_len]
    n_repeat = int(max_len / len(x))
    return np.pad(np.tile(x, n_repeat), (0, max_len - len(x) * n_repeat))


def audio_windows(x48k: np.ndarray, clip: int = CLIP_SAMPLES) -> np.ndarray:
    """(n_windows, clip) float32 from a quantised 48 kHz signal: one repeat-padded window up to
    10 s, else ``ceil(n / clip)`` windows evenly spaced from the start to the end."""
    if x48k.size <= clip:
        return repeat_pad(x48k, clip)[None, :]
    count = math.ceil(x48k.size / clip)
    starts = np.round(np.linspace(0, x48k.size - clip, count)).astype(int)
    return np.stack([x48k[s:s + clip] for s in starts])


# --- the loaded model ------------------------------------------------------------------------------

@dataclass
class ClapModel:
    net: ClapNet
    tokenizer: Any
    device: torch.device
    variant: str
    path: Path | None = None
    sample_rate: int = SAMPLE_RATE
    info: dict = field(default_factory=dict, repr=False)

    @property
    def embedding_dim(self) -> int:
        return JOINT_DIM

    def window_embeddings(self, samples: np.ndarray, sr: int) -> np.ndarray:
        """(n_windows, 512) float32 unit vectors, one per 10 s window (see `audio_windows`)."""
        from sidetrack_pipeline.audio.decode import resample

        signal = np.asarray(samples, dtype=np.float32)
        if signal.ndim != 1 or signal.size == 0 or not np.isfinite(signal).all():
            raise ValueError(f"expected a finite, non-empty mono signal, got {signal.shape}")
        windows = audio_windows(quantize_int16(resample(signal, int(sr), SAMPLE_RATE)))
        outs = []
        with torch.inference_mode():
            for start in range(0, len(windows), AUDIO_BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(windows[start:start + AUDIO_BATCH]))
                outs.append(self.net.audio_embedding(batch.to(self.device)).float().cpu().numpy())
        return np.concatenate(outs)

    def embed_audio(self, samples: np.ndarray, sr: int) -> np.ndarray:
        """(512,) float32 unit vector: the mean of the window embeddings, re-normalised."""
        per_window = self.window_embeddings(samples, sr)
        mean = per_window.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    embed = embed_audio  # the interface the embeddings asset uses for vector models

    def embed_text(self, texts: list[str] | str) -> np.ndarray:
        """(len(texts), 512) float32 unit vectors."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, JOINT_DIM), dtype=np.float32)
        tokens = self.tokenizer(texts, padding="max_length", truncation=True,
                                max_length=MAX_TEXT_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            out = self.net.text_embedding(tokens["input_ids"].to(self.device),
                                          tokens["attention_mask"].to(self.device))
        return out.float().cpu().numpy()


# --- loading -------------------------------------------------------------------------------------

def _numpy_globals() -> list[Any]:
    """NumPy scalar/dtype globals allowed in a checkpoint, under NumPy 2's and NumPy 1's names
    (the released checkpoints were pickled with NumPy 1: ``numpy.core.multiarray.scalar``)."""
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    allowed: list[Any] = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype]
    allowed += [t for t in vars(np.dtypes).values() if isinstance(t, type)
                and issubclass(t, np.dtype)] if hasattr(np, "dtypes") else []
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """For checkpoints pickled with protocol >= 3, which torch's weights-only reader rejects:
    only the globals a tensor checkpoint needs may be looked up (torch's loader resolves the
    storage types itself before this is asked)."""

    _ALLOWED = {
        ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"), ("torch", "Size"), ("_codecs", "encode"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "dtype")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED or (
                module == "numpy.dtypes" and name.endswith("DType")):
            if module.startswith("numpy.core") and hasattr(np, "_core"):
                module = "numpy._core" + module[len("numpy.core"):]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a checkpoint")


class _RestrictedPickle:
    """A `pickle_module` for `torch.load` whose Unpickler is `_RestrictedUnpickler`."""
    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


def _read_checkpoint(path: Path, what: str) -> Any:
    try:
        return registry.read_checkpoint(path, what, ENV_VAR, HOW_TO_GET,
                                        safe_globals=tuple(_numpy_globals()))
    except registry.ModelNotAvailableError as exc:
        if "Unsupported operand" not in str(exc.__cause__ or ""):
            raise
    # a pickle opcode of protocol >= 3: the same whitelist through Python's own unpickler
    try:
        return torch.load(path, map_location="cpu", weights_only=False,
                          pickle_module=_RestrictedPickle)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise registry.ModelNotAvailableError(
            f"{what}: {path} (from {ENV_VAR}) is not a readable PyTorch checkpoint of the "
            f"expected kind ({type(exc).__name__}: {reason[:300]}). {HOW_TO_GET}") from exc


def _count(state: dict, prefix: str) -> int:
    """Number of consecutive indices i with some key starting with f"{prefix}{i}."."""
    n = 0
    while any(k.startswith(f"{prefix}{n}.") for k in state):
        n += 1
    return n


def describe_checkpoint(state: dict[str, torch.Tensor], what: str, path: Path
                        ) -> tuple[str, dict[str, Any], bool]:
    """(variant name, HTSAT arguments, fusion) read off a (prefix-stripped) state dict; a
    `ModelNotAvailableError` for anything that is not a supported laion_clap model."""
    def refuse(reason: str) -> registry.ModelNotAvailableError:
        return registry.ModelNotAvailableError(
            f"{what}: {path} (from {ENV_VAR}) {reason}. {HOW_TO_GET}")

    has = lambda prefix: any(k.startswith(prefix) for k in state)  # noqa: E731
    if not (has("audio_branch.") and has("text_branch.")):
        sample = ", ".join(list(state)[:5])
        raise refuse(f"is not a LAION-CLAP checkpoint: its state dict has no audio_branch.* and "
                     f"text_branch.* tensors (first keys: {sample})")
    if "text_branch.embeddings.word_embeddings.weight" not in state or \
            "text_branch.pooler.dense.weight" not in state:
        raise refuse("has a text branch other than RoBERTa (CLIP-transformer, BERT or BART "
                     "CLAP variants are not supported; SideTrack loads the RoBERTa ones)")
    if "audio_branch.patch_embed.proj.weight" not in state or \
            "audio_branch.layers.0.blocks.0.attn.qkv.weight" not in state:
        raise refuse("has an audio branch other than HTSAT (PANN-based CLAP variants are not "
                     "supported)")
    if has("audio_branch.mel_conv1d.") or (
            has("audio_branch.patch_embed.mel_conv2d.") and (
                not has("audio_branch.patch_embed.fusion_model.local_att.")
                or has("audio_branch.patch_embed.fusion_model.local_att2."))):
        raise refuse("uses a feature-fusion type other than 'aff_2d' (1-D, DAF or iAFF fusion "
                     "have no released checkpoints and are not supported)")
    if state["audio_branch.patch_embed.proj.weight"].shape[1] != 1:
        raise refuse("uses the 'channel_map' fusion type, which is not supported")
    fusion = has("audio_branch.patch_embed.mel_conv2d.")
    embed_dim = int(state["audio_branch.patch_embed.proj.weight"].shape[0])
    n_layers = _count(state, "audio_branch.layers.")
    depths = tuple(_count(state, f"audio_branch.layers.{i}.blocks.") for i in range(n_layers))
    # heads from each stage's relative-position table (if one is missing, HTSAT's usual count:
    # the strict load then names the missing tensor)
    tables = [state.get(f"audio_branch.layers.{i}.blocks.0.attn.relative_position_bias_table")
              for i in range(n_layers)]
    heads = tuple(int(t.shape[1]) if t is not None else 4 * 2 ** i for i, t in enumerate(tables))
    classes = int(state["audio_branch.head.weight"].shape[0]) \
        if "audio_branch.head.weight" in state else 527
    name = next((n for n, (e, d) in HTSAT_VARIANTS.items() if (e, d) == (embed_dim, depths)),
                f"HTSAT(embed_dim={embed_dim}, depths={depths})")
    htsat = {"embed_dim": embed_dim, "depths": depths, "num_heads": heads, "num_classes": classes}
    return name + (" fusion" if fusion else ""), htsat, fusion


def load_clap(path: str | Path | None = None, device: str = "cpu",
              tokenizer: str | Path | None = None,
              text_config: dict[str, Any] | None = None) -> ClapModel:
    """LAION-CLAP from `path` (default: $SIDETRACK_CLAP_CHECKPOINT) and the roberta-base tokenizer
    files in `tokenizer` (default: $SIDETRACK_CLAP_TOKENIZER), loaded strictly onto `device`.
    `text_config` overrides `ROBERTA_BASE` (tests only). Never downloads anything."""
    what = f"{MODEL_TITLE} weights"
    ckpt = registry.weights_path(path, ENV_VAR, what, HOW_TO_GET)
    tok_dir = tokenizer_dir(tokenizer)
    with registry.offline():
        obj = _read_checkpoint(ckpt, what)
        # the released layout {"state_dict": ..., "epoch": ...}, or a bare state dict
        state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        if not isinstance(state, dict) or not state or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            kind = list(obj)[:5] if isinstance(obj, dict) else type(obj).__name__
            raise registry.ModelNotAvailableError(
                f"{what}: {ckpt} (from {ENV_VAR}) is not a laion_clap checkpoint: expected a "
                f"dict with 'state_dict' (a state dict of tensors), found {kind}. {HOW_TO_GET}")
        if all(isinstance(k, str) and k.startswith("module.") for k in state):
            state = {k[len("module."):]: v for k, v in state.items()}  # saved from DDP
        state = {k: v for k, v in state.items() if k not in TOLERATED_EXTRA_KEYS}
        variant, htsat, fusion = describe_checkpoint(state, what, ckpt)
        try:
            net = ClapNet(htsat=htsat, text_config=text_config, fusion=fusion)
        except ImportError as exc:
            raise registry.ModelNotAvailableError(
                f"CLAP needs the transformers and torchlibrosa packages (the 'models' extra: "
                f"pip install -c constraints.txt transformers==4.57.6 torchlibrosa==0.1.0): "
                f"{exc}") from exc
        registry.load_strict(net, state, f"{what} ({variant})", ckpt, ENV_VAR, HOW_TO_GET)
        from transformers import RobertaTokenizer

        try:
            tok = RobertaTokenizer(vocab_file=str(tok_dir / "vocab.json"),
                                   merges_file=str(tok_dir / "merges.txt"))
        except Exception as exc:  # noqa: BLE001 - malformed JSON, bad merges line, ...
            raise registry.ModelNotAvailableError(
                f"{MODEL_TITLE} tokenizer: cannot read the tokenizer files in {tok_dir} (from "
                f"{TOKENIZER_ENV_VAR}): {type(exc).__name__}: {str(exc)[:300]}. {HOW_TO_GET}"
            ) from exc
    vocab = net.text_branch.config.vocab_size
    if len(tok) > vocab:
        raise registry.ModelNotAvailableError(
            f"{MODEL_TITLE} tokenizer: {tok_dir} (from {TOKENIZER_ENV_VAR}) has {len(tok)} "
            f"tokens, more than the checkpoint's text branch knows ({vocab}); it is not the "
            f"roberta-base tokenizer. {HOW_TO_GET}")
    dev = torch.device(device)
    return ClapModel(net=net.to(dev).eval(), tokenizer=tok, device=dev, variant=variant,
                     path=ckpt, info={"htsat": htsat, "fusion": fusion})
