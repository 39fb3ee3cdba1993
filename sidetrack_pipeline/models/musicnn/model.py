"""musicnn (Pons & Serra, 2019) in PyTorch, loadable from the original TF1 checkpoints.

Architecture of ``musicnn/models.py::build_musicnn`` (models MSD_musicnn and MTT_musicnn), input
(batch, 187 frames, 96 mels):

* front-end: batchnorm of the input, then five branches, each conv -> ReLU -> batchnorm (TF1
  order: the activation comes *before* the batchnorm) -> max over the frequency axis:
  timbral 7×38 and 7×67 (0.4 / 0.7 × 96 mels, 204 filters each, zero-padded 3 frames in time,
  'valid' in frequency) and temporal 128×1, 64×1, 32×1 (51 filters each, TF 'same' padding);
  concatenated to 561 channels per frame.
* mid-end: three 1-D convolutions over time (7 taps, 64 filters, zero padding 3), each
  conv -> ReLU -> batchnorm, the 2nd and 3rd with residual connections; the front-end output and
  the three mid-end outputs are concatenated (dense connection): 561 + 3 × 64 = 753 channels.
* back-end: max and mean over time, interleaved per channel as TF's concat+flatten lays them
  out (max_0, mean_0, max_1, ...), batchnorm, dense 200 + ReLU, batchnorm (= "penultimate"),
  dense to 50 tag logits. Dropout is inactive at inference.

TF1's `tf.compat.v1.layers.batch_normalization` uses epsilon 1e-3 (and momentum 0.99, which
only matters for training).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default


def _tf_same_pad(kernel: int) -> tuple[int, int]:
    """TF 'same' padding for stride 1: the extra pad of an even kernel goes after."""
    total = kernel - 1
    return total // 2, total - total // 2


class _FrontBranch(nn.Module):
    """conv2d over (time, freq) -> ReLU -> batchnorm -> max over frequency -> (B, C, T)."""

    def __init__(self, filters: int, k_time: int, k_freq: int, time_pad: tuple[int, int]):
        super().__init__()
        self.time_pad = time_pad
        self.conv = nn.Conv2d(1, filters, (k_time, k_freq))
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 1, T, F)
        y = self.conv(F.pad(x, (0, 0, *self.time_pad)))  # (B, C, T, F'): the big tensor
        if self.training:
            return self.bn(F.relu(y)).amax(dim=3)
        # Inference: ReLU and the batchnorm's affine map are monotonic per channel, so pooling
        # first is exact and spares two passes over the big tensor: max over frequency for
        # channels with a positive batchnorm scale, min for a negative one.
        scale = self.bn.weight * torch.rsqrt(self.bn.running_var + self.bn.eps)
        pooled = torch.where((scale >= 0)[:, None], y.amax(dim=3), y.amin(dim=3))
        return F.batch_norm(F.relu(pooled), self.bn.running_mean, self.bn.running_var,
                            self.bn.weight, self.bn.bias, False, 0.0, self.bn.eps)


class _MidConv(nn.Module):
    """conv1d over time (7 taps, zero padding 3) -> ReLU -> batchnorm."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, 7, padding=3)
        self.bn = nn.BatchNorm1d(out_ch, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class MusiCNN(nn.Module):
    """musicnn; `forward` returns (tag logits (B, n_classes), penultimate (B, backend_units))."""

    def __init__(self, n_classes: int = 50, n_mels: int = 96, frontend_scale: float = 1.6,
                 midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        timbral_filters, temporal_filters = int(frontend_scale * 128), int(frontend_scale * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList([
            _FrontBranch(timbral_filters, 7, int(frac * n_mels), (3, 3)) for frac in (0.4, 0.7)])
        self.temporal = nn.ModuleList([
            _FrontBranch(temporal_filters, k, 1, _tf_same_pad(k)) for k in (128, 64, 32)])
        front_ch = 2 * timbral_filters + 3 * temporal_filters
        self.mid = nn.ModuleList([_MidConv(front_ch, midend_filters),
                                  _MidConv(midend_filters, midend_filters),
                                  _MidConv(midend_filters, midend_filters)])
        pooled = 2 * (front_ch + 3 * midend_filters)
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, backend_units)
        self.dense_bn = nn.BatchNorm1d(backend_units, eps=BN_EPS)
        self.classifier = nn.Linear(backend_units, n_classes)

    def forward(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`spec`: (B, frames, n_mels) log-mel patches."""
        x = self.input_bn(spec.unsqueeze(1))  # (B, 1, T, F): time is the conv 'height'
        front = torch.cat([b(x) for b in (*self.timbral, *self.temporal)], dim=1)  # (B, 561, T)
        m1 = self.mid[0](front)
        m2 = self.mid[1](m1) + m1
        m3 = self.mid[2](m2) + m2
        feats = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
        pooled = torch.stack([feats.amax(dim=2), feats.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.classifier(penultimate), penultimate


# --- TF variable names -> PyTorch parameters ----------------------------------------------------

# tf.compat.v1.layers numbers its layers in creation order: conv2d, conv2d_1, ...
_CONVS = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2",
          "mid.0", "mid.1", "mid.2"]
_BNS = ["input_bn", "timbral.0.bn", "timbral.1.bn", "temporal.0.bn", "temporal.1.bn",
        "temporal.2.bn", "mid.0.bn", "mid.1.bn", "mid.2.bn", "pool_bn", "dense_bn"]
_DENSES = ["dense", "classifier"]
_BN_FIELDS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
              "moving_variance": "running_var"}


def _tf_layer_name(kind: str, i: int) -> str:
    return kind if i == 0 else f"{kind}_{i}"


def tf_variable_map() -> dict[str, str]:
    """{TF variable name: torch state-dict key} for every weight musicnn uses."""
    mapping = {}
    for i, module in enumerate(_CONVS):
        for field, target in (("kernel", "weight"), ("bias", "bias")):
            mapping[f"{_tf_layer_name('conv2d', i)}/{field}"] = f"{module}.conv.{target}"
    for i, module in enumerate(_BNS):
        for field, target in _BN_FIELDS.items():
            mapping[f"{_tf_layer_name('batch_normalization', i)}/{field}"] = f"{module}.{target}"
    for i, module in enumerate(_DENSES):
        for field, target in (("kernel", "weight"), ("bias", "bias")):
            mapping[f"{_tf_layer_name('dense', i)}/{field}"] = f"{module}.{target}"
    return mapping


def _convert(tf_name: str, value: np.ndarray) -> np.ndarray:
    """Re-lay a TF tensor for PyTorch: conv kernels HWIO -> OIHW, dense (in, out) -> (out, in)."""
    if tf_name.startswith("conv2d") and tf_name.endswith("/kernel"):
        kernel = value.transpose(3, 2, 0, 1)  # (out, in=1, k_time, k_width)
        if tf_name in ("conv2d_5/kernel", "conv2d_6/kernel", "conv2d_7/kernel"):
            # mid-end: a 2-D conv spanning all channels == a 1-D conv over time
            kernel = kernel[:, 0].transpose(0, 2, 1)  # (out, channels, k_time)
        return kernel
    if tf_name.startswith("dense") and tf_name.endswith("/kernel"):
        return value.T
    return value


def state_dict_from_tf(variables: dict[str, np.ndarray], model: MusiCNN | None = None
                       ) -> dict[str, torch.Tensor]:
    """A MusiCNN state dict from TF checkpoint variables; every parameter must be covered."""
    model = model or MusiCNN()
    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for tf_name, key in tf_variable_map().items():
        if tf_name not in variables:
            raise KeyError(f"checkpoint lacks variable {tf_name!r}")
        value = np.ascontiguousarray(_convert(tf_name, variables[tf_name]), dtype=np.float32)
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(f"{tf_name} -> {key}: shape {value.shape} != "
                             f"{tuple(expected[key].shape)}")
        state[key] = torch.from_numpy(value.copy())
    for key, tensor in expected.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros_like(tensor)
    missing = set(expected) - set(state)
    if missing:
        raise KeyError(f"no TF variable for {sorted(missing)}")
    return state
