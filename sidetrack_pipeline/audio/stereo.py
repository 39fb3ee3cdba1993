"""Stereo image from the 2 x 2 channel Gram matrix (one pass over the samples).

* `stereo_width`: side / (mid + side) energy, 0 for mono, 0.5 for uncorrelated channels,
  1 for fully out-of-phase channels (mid = (L+R)/2, side = (L-R)/2);
* `side_mid_ratio`: side / mid energy (0 .. inf; 1 for uncorrelated channels);
* `lr_correlation`: Pearson correlation of left and right, -1 .. 1 (1 for mono).
"""

from __future__ import annotations

import math

import numpy as np

_CHUNK = 1 << 19


def stereo_image(stereo: np.ndarray) -> dict[str, float | None]:
    none = {"stereo_width": None, "side_mid_ratio": None, "lr_correlation": None}
    if stereo.ndim != 2 or stereo.shape[0] < 2:
        return none
    gram = np.zeros((2, 2))
    sums = np.zeros(2)
    for start in range(0, stereo.shape[0], _CHUNK):  # double precision, bounded memory
        x = np.asarray(stereo[start:start + _CHUNK], dtype=np.float64)
        gram += x.T @ x
        sums += np.ones(x.shape[0]) @ x
    ll, rr, lr = float(gram[0, 0]), float(gram[1, 1]), float(gram[0, 1])
    mid, side = ll + rr + 2.0 * lr, ll + rr - 2.0 * lr  # x 4, which cancels in the ratios
    mid, side = max(mid, 0.0), max(side, 0.0)
    if mid + side <= 1e-12:
        return none
    n = stereo.shape[0]
    var_l = ll - sums[0] * sums[0] / n
    var_r = rr - sums[1] * sums[1] / n
    cov = lr - sums[0] * sums[1] / n
    denom = math.sqrt(max(var_l, 0.0) * max(var_r, 0.0))
    corr = cov / denom if denom > 1e-12 * max(ll, rr, 1e-30) else 1.0
    return {
        "stereo_width": side / (mid + side),
        "side_mid_ratio": side / mid if mid > 1e-12 else None,
        "lr_correlation": max(-1.0, min(1.0, corr)),
    }
