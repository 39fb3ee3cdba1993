"""Change-points in a weekly mood series: the mart's CUSUM in plain Python, and PELT.

`cusum` is the twin of dbt's `mart_change_points` (same robust sigma, self-starting reference,
restart after an alarm, change week refined inside the alarming run), so thresholds can be
simulated fast. `pelt` is a second, offline method: optimal partitioning into constant-mean
segments (Gaussian cost with the same robust sigma), pruned (Killick et al. 2012), with a
BIC-style penalty `pelt_penalty * log(n)` per change.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

CUSUM_METHOD = "cusum-v1"
PELT_METHOD = "pelt-v1"


@dataclass(frozen=True)
class ChangePoint:
    change: int        # index of the first week of the new regime
    detected: int      # index of the week the change was detected (CUSUM alarm; PELT: last week)
    direction: str     # 'up' or 'down'
    magnitude: float   # mean of up to `span` weeks from `change` on minus up to `span` weeks before
    statistic: float   # CUSUM: the alarming S; PELT: cost reduction of the split (sd units^2)
    method: str


def robust_sigma(xs: list[float], sd_floor: float = 0.02) -> float:
    """median(|x_t - x_{t-1}|) / (0.6745 * sqrt 2), at least sd_floor (as in the mart)."""
    steps = [abs(b - a) for a, b in zip(xs, xs[1:])]
    return max(statistics.median(steps) / (0.6745 * math.sqrt(2)) if steps else 0.0, sd_floor)


def magnitude(xs: list[float], change: int, span: int = 4) -> float:
    after, before = xs[change:change + span], xs[max(change - span, 0):change]
    return statistics.fmean(after) - statistics.fmean(before)


def cusum(xs: list[float], k: float = 0.5, h: float = 5.0, warmup: int = 2,
          sd_floor: float = 0.02, span: int = 4) -> list[ChangePoint]:
    """The two-sided self-starting CUSUM of mart_change_points (refined change week)."""
    warmup = max(warmup, 2)
    sigma = robust_sigma(xs, sd_floor)
    found: list[ChangePoint] = []
    ref: list[float] = []
    seg_start, s_up, s_dn, up_zero, dn_zero = 0, 0.0, 0.0, 0, 0
    for i, x in enumerate(xs):
        if len(ref) >= warmup:
            n, m = len(ref), statistics.fmean(ref)
            z = (x - m) / (sigma * math.sqrt(1 + 1 / n))
            s_up, s_dn = max(0.0, s_up + z - k), max(0.0, s_dn - z - k)
        if s_up == 0:
            up_zero = i
        if s_dn == 0:
            dn_zero = i
        direction = "up" if s_up > h and s_up >= s_dn else "down" if s_dn > h else None
        if direction is None:
            ref.append(x)
            continue
        sign, run_start = (1, up_zero + 1) if direction == "up" else (-1, dn_zero + 1)

        def split_score(j: int) -> float:
            before, after = xs[seg_start:j], xs[j:i + 1]
            diff = statistics.fmean(after) - statistics.fmean(before)
            return sign * diff * math.sqrt(len(before) * len(after) / (len(before) + len(after)))

        change = max(range(run_start, i + 1), key=lambda j: (split_score(j), -j))
        found.append(ChangePoint(change, i, direction, magnitude(xs, change, span),
                                 s_up if direction == "up" else s_dn, CUSUM_METHOD))
        ref, seg_start, s_up, s_dn, up_zero, dn_zero = [], i + 1, 0.0, 0.0, i, i
    return found


def pelt(xs: list[float], penalty: float = 3.0, min_size: int = 3, sd_floor: float = 0.02,
         span: int = 4) -> list[ChangePoint]:
    """PELT with a Gaussian mean-shift cost: sum of squared deviations / sigma^2 per segment,
    plus `penalty * log(n)` per segment. Returns the change weeks (segment starts after the first)."""
    n = len(xs)
    if n < 2 * min_size:
        return []
    sigma = robust_sigma(xs, sd_floor)
    z = [x / sigma for x in xs]
    s1, s2 = [0.0], [0.0]
    for v in z:
        s1.append(s1[-1] + v)
        s2.append(s2[-1] + v * v)

    def cost(a: int, b: int) -> float:  # segment z[a:b]
        m = b - a
        return s2[b] - s2[a] - (s1[b] - s1[a]) ** 2 / m

    beta = penalty * math.log(n)
    best = [0.0] * (n + 1)
    best[0] = -beta
    last = [0] * (n + 1)
    candidates: list[int] = [0]
    for t in range(min_size, n + 1):
        options = [(best[s] + cost(s, t) + beta, s) for s in candidates if t - s >= min_size]
        best[t], last[t] = min(options)
        candidates = [s for s in candidates if t - s < min_size or best[s] + cost(s, t) <= best[t]]
        if t - min_size + 1 >= min_size:
            candidates.append(t - min_size + 1)
    bounds, t = [], n
    while t > 0:
        bounds.append(t)
        t = last[t]
    starts = sorted(bounds)[:-1]  # segment ends except the last = starts of the next segment
    found = []
    prev = 0
    for idx, c in enumerate(starts):
        nxt = starts[idx + 1] if idx + 1 < len(starts) else n
        diff = statistics.fmean(xs[c:nxt]) - statistics.fmean(xs[prev:c])
        gain = cost(prev, nxt) - cost(prev, c) - cost(c, nxt)
        found.append(ChangePoint(c, n - 1, "up" if diff > 0 else "down", magnitude(xs, c, span),
                                 gain, PELT_METHOD))
        prev = c
    return found
