"""Graph smoothing (method `smoothed-v1`): every track gets a score on every axis.

Input: the fused evidence per track and axis (`fusion.fuse_all`: value, confidence,
provenance), the track's artist and release, and a weighted graph: audio k-nearest
neighbours (cosine similarity from pgvector) plus MusicBrainz relations (`KIND_WEIGHTS` ×
the stored edge weight; a pair linked several ways adds its weights up).

Per axis, three steps (constants below; documented in docs/axes.md, "Fusion and smoothing"):

1. Partial pooling (empirical Bayes). μ = confidence-weighted mean of all own evidence,
   V = its variance. For each artist and each release, the leave-one-out group mean m_g
   (the other members' evidence, effective size n_g = Σ confidence) is shrunk to μ:
       m̂_g = (n_g/σ²_w · m_g + μ/τ²) / (n_g/σ²_w + 1/τ²)
   with σ²_w the pooled within-group variance and τ² = max(V − σ²_w, TAU2_FLOOR) the
   between-group variance (method of moments). A track's prior is the precision-weighted
   mean of its artist and release estimates (μ when it has neither). Its own evidence,
   of noise variance S0²/confidence, is then shrunk towards that prior with strength set by
   the group's own variance σ²_g (the group's spread, itself shrunk to σ²_w):
       pooled = (own·c/S0² + prior/v) / (c/S0² + 1/v),   v = σ²_g + 1/precision(prior)
   Thin evidence in a tight group moves a lot; strong evidence or a diverse group, little.
2. Label propagation (Jacobi iteration to a fixed point; a contraction since every track has
   an anchor):
       x_i = (a_i·pooled_i + P·prior_i + α·s_i·Σ_j ŵ_ij x_j) / (a_i + P + α·s_i)
   a_i = c_i / (1 − c_i + 0.05) (confidence as odds: strong evidence barely moves), ŵ the
   row-normalised edge weights, s_i = min(1, Σ_j w_ij) the neighbourhood's strength.
3. Confidence: own confidence, or neighbours' confidence decayed by DECAY per hop
   (c_i = max(own_i, prior_conf_i, DECAY·s_i·Σ_j ŵ_ij c_j), iterated), never below the prior's.

Contributions are signed pulls from the neutral 0.5 and add up to value − 0.5:
own evidence (kind 'method', 'fused-v1'), the pooling shift and the prior (kind 'prior'),
and the TOP_NEIGHBOURS strongest neighbours (kind 'neighbour', 'track:<id>'; the rest summed
as 'other neighbours').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from sidetrack_pipeline.scoring.fusion import METHOD as FUSED_METHOD, FusedScore

METHOD = "smoothed-v1"
NEUTRAL = 0.5
KNN_K = 10
KIND_WEIGHTS = {"knn": 1.0, "same_release": 0.8, "remix_of": 0.7, "same_artist": 0.6,
                "cover_of": 0.4, "same_label": 0.3}
ALPHA = 0.5           # pull of the neighbourhood
PRIOR_STRENGTH = 0.02  # the prior's anchor: decides only where nothing else speaks
S0 = 0.05             # noise sd of evidence at confidence 1
TAU2_FLOOR = 1e-3
K0 = 1.0              # pseudo-members shrinking a group's variance to the pooled one
DECAY = 0.7
GLOBAL_PRIOR_CONF = 0.05
GROUP_PRIOR_CONF = 0.3
TOP_NEIGHBOURS = 5
TOL = 1e-7
MAX_ITER = 1000


@dataclass
class Catalogue:
    """Tracks (by index), their artist/release group ids (-1: none) and the edges."""
    track_ids: list[int]
    artist: np.ndarray
    release: np.ndarray
    edges: list[tuple[int, int, float, str]] = field(default_factory=list)  # (i, j, weight, kind) by index

    def index(self) -> dict[int, int]:
        return {t: i for i, t in enumerate(self.track_ids)}


@dataclass(frozen=True)
class SmoothedScore:
    value: float
    confidence: float
    provenance: str
    contributions: dict[tuple[str, str], float]  # (kind, name) → signed pull


@dataclass
class SmoothingReport:
    tracks: int = 0
    iterations: dict[str, int] = field(default_factory=dict)
    converged: dict[str, bool] = field(default_factory=dict)


def build_graph(n: int, edges: Iterable[tuple[int, int, float, str]],
                kind_weights: Mapping[str, float] = KIND_WEIGHTS) -> sp.csr_matrix:
    """Symmetric weight matrix: per unordered pair and kind the strongest kind weight × edge
    weight (same_* edges are stored both ways), summed over kinds; self-loops dropped."""
    best: dict[tuple[int, int, str], float] = {}
    for i, j, w, kind in edges:
        weight = kind_weights.get(kind, 0.0) * max(0.0, float(w))
        if i == j or weight <= 0:
            continue
        key = (min(i, j), max(i, j), kind)
        best[key] = max(best.get(key, 0.0), weight)
    pair: dict[tuple[int, int], float] = {}
    for (i, j, _), w in best.items():
        pair[(i, j)] = pair.get((i, j), 0.0) + w
    if not pair:
        return sp.csr_matrix((n, n))
    ij = np.array(list(pair.keys()))
    w = np.array(list(pair.values()))
    rows = np.concatenate([ij[:, 0], ij[:, 1]])
    cols = np.concatenate([ij[:, 1], ij[:, 0]])
    return sp.coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n)).tocsr()


def _group_sums(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum of `values` per group id, returned per track (0 for group -1)."""
    out = np.zeros(len(groups))
    valid = groups >= 0
    if valid.any():
        ids, inverse = np.unique(groups[valid], return_inverse=True)
        sums = np.bincount(inverse, weights=values[valid], minlength=len(ids))
        out[valid] = sums[inverse]
    return out


@dataclass
class Pooling:
    prior: np.ndarray        # per track
    prior_precision: np.ndarray
    prior_level: list[str]   # 'release+artist', 'release', 'artist', 'global'
    prior_conf: np.ndarray
    pooled: np.ndarray       # own evidence shrunk towards the prior (= prior where no evidence)
    mu: float
    tau2: float
    sigma2_w: float


def partial_pool(own: np.ndarray, conf: np.ndarray, groups: Mapping[str, np.ndarray]) -> Pooling:
    """Empirical-Bayes shrinkage of own evidence towards leave-one-out artist/release means."""
    n = len(own)
    c = np.where(conf > 0, conf, 0.0)
    x = np.where(c > 0, own, 0.0)
    if c.sum() <= 0:
        return Pooling(np.full(n, NEUTRAL), np.full(n, 1.0 / 0.0833), ["global"] * n,
                       np.full(n, GLOBAL_PRIOR_CONF), np.full(n, NEUTRAL), NEUTRAL, 0.0833, 0.0833)
    mu = float((c * x).sum() / c.sum())
    var_total = float((c * (x - mu) ** 2).sum() / c.sum()) if (c > 0).sum() > 1 else 1.0 / 12
    var_total = max(var_total, TAU2_FLOOR)

    # Pooled within-group variance over all groupings with at least two members with evidence.
    num = den = 0.0
    stats = {}
    for name, g in groups.items():
        g = np.asarray(g)
        n_g = _group_sums(g, c)
        s_g = _group_sums(g, c * x)
        ss_g = _group_sums(g, c * x * x)
        mean_all = np.divide(s_g, n_g, out=np.full(n, mu), where=n_g > 0)
        dev2 = np.where(c > 0, c * (x - mean_all) ** 2, 0.0)
        cnt = _group_sums(g, (c > 0).astype(float))
        mask = (cnt >= 2) & (c > 0) & (g >= 0)
        num += dev2[mask].sum()
        den += c[mask].sum()
        stats[name] = (g, n_g, s_g, ss_g, mean_all, cnt)
    sigma2_w = max(num / den, TAU2_FLOOR) if den > 0 else var_total / 2
    tau2 = max(var_total - sigma2_w, TAU2_FLOOR)

    prec_sum = np.zeros(n)  # accumulated precision of the group estimates
    mean_sum = np.zeros(n)
    spread = np.zeros(n)
    levels: list[list[str]] = [[] for _ in range(n)]
    for name, (g, n_g, s_g, ss_g, mean_all, cnt) in stats.items():
        # Leave-one-out: the other members' evidence.
        n_loo = n_g - c
        s_loo = s_g - c * x
        has = (g >= 0) & (n_loo > 1e-9)
        m_loo = np.divide(s_loo, n_loo, out=np.full(n, mu), where=has)
        precision = np.where(has, n_loo / sigma2_w + 1.0 / tau2, 0.0)
        m_hat = np.where(has, (n_loo / sigma2_w * m_loo + mu / tau2) / np.where(has, precision, 1.0), mu)
        # The group's spread (the other members, too), shrunk to the pooled within variance.
        ss_loo = ss_g - c * x * x
        ss_dev = np.where(has, ss_loo - s_loo ** 2 / np.where(has, n_loo, 1.0), 0.0)
        var_g = (np.maximum(ss_dev, 0.0) + K0 * sigma2_w) / (np.where(has, n_loo, 0.0) + K0)
        prec_sum += precision
        mean_sum += precision * m_hat
        spread += precision * var_g
        for i in np.flatnonzero(has):
            levels[i].append(name)
    grouped = prec_sum > 0
    prior = np.where(grouped, mean_sum / np.where(grouped, prec_sum, 1.0), mu)
    prior_precision = np.where(grouped, prec_sum, 1.0 / var_total)
    var_group = np.where(grouped, spread / np.where(grouped, prec_sum, 1.0), var_total)
    prior_conf = np.where(grouped, GROUP_PRIOR_CONF * (1 - np.exp(-prec_sum * sigma2_w / 3)), GLOBAL_PRIOR_CONF)
    prior_conf = np.maximum(prior_conf, GLOBAL_PRIOR_CONF)

    v = var_group + 1.0 / prior_precision
    own_precision = np.where(c > 0, c / S0 ** 2, 0.0)
    pooled = np.where(c > 0, (own_precision * x + prior / v) / (own_precision + 1.0 / v), prior)
    level_names = ["+".join(sorted(lv, reverse=True)) if lv else "global" for lv in levels]
    return Pooling(prior, prior_precision, level_names, prior_conf, pooled, mu, tau2, sigma2_w)


def propagate(anchor: np.ndarray, anchor_strength: np.ndarray, prior: np.ndarray, W: sp.csr_matrix,
              alpha: float = ALPHA, prior_strength: float = PRIOR_STRENGTH,
              tol: float = TOL, max_iter: int = MAX_ITER) -> tuple[np.ndarray, int, bool]:
    """Fixed point of x_i = (a_i·anchor_i + P·prior_i + α·s_i·Σ ŵ_ij x_j) / (a_i + P + α·s_i)."""
    rowsum = np.asarray(W.sum(axis=1)).ravel()
    strength = np.minimum(1.0, rowsum)
    inv = np.divide(1.0, rowsum, out=np.zeros_like(rowsum), where=rowsum > 0)
    W_hat = sp.diags(inv) @ W
    denom = anchor_strength + prior_strength + alpha * strength
    fixed = anchor_strength * anchor + prior_strength * prior
    x = np.where(anchor_strength > 0, anchor, prior).astype(float)
    for it in range(1, max_iter + 1):
        new = (fixed + alpha * strength * (W_hat @ x)) / denom
        delta = float(np.max(np.abs(new - x))) if len(x) else 0.0
        x = new
        if delta < tol:
            return x, it, True
    return x, max_iter, False


def propagate_confidence(own_conf: np.ndarray, prior_conf: np.ndarray, W: sp.csr_matrix,
                         decay: float = DECAY, max_iter: int = MAX_ITER) -> np.ndarray:
    rowsum = np.asarray(W.sum(axis=1)).ravel()
    strength = np.minimum(1.0, rowsum)
    inv = np.divide(1.0, rowsum, out=np.zeros_like(rowsum), where=rowsum > 0)
    W_hat = sp.diags(inv) @ W
    floor = np.maximum(own_conf, prior_conf)
    conf = floor.copy()
    for _ in range(max_iter):
        new = np.maximum(floor, decay * strength * (W_hat @ conf))
        if np.max(np.abs(new - conf), initial=0.0) < 1e-9:
            return new
        conf = new
    return conf


def smooth(catalogue: Catalogue, fused: Mapping[tuple[int, str], FusedScore], axes: Sequence[str],
           use_graph: bool = True, report: SmoothingReport | None = None) -> dict[tuple[int, str], SmoothedScore]:
    """`smoothed-v1` for every track of the catalogue on every axis."""
    n = len(catalogue.track_ids)
    W = build_graph(n, catalogue.edges if use_graph else [])
    rowsum = np.asarray(W.sum(axis=1)).ravel()
    strength = np.minimum(1.0, rowsum)
    inv = np.divide(1.0, rowsum, out=np.zeros_like(rowsum), where=rowsum > 0)
    W_hat = (sp.diags(inv) @ W).tocsr()
    groups = {"artist": np.asarray(catalogue.artist), "release": np.asarray(catalogue.release)}
    ids = catalogue.track_ids
    out: dict[tuple[int, str], SmoothedScore] = {}
    if report is not None:
        report.tracks = n
    for axis in axes:
        own = np.full(n, NEUTRAL)
        conf = np.zeros(n)
        prov = [None] * n
        for i, t in enumerate(ids):
            f = fused.get((t, axis))
            if f is not None and f.confidence > 0:
                own[i], conf[i], prov[i] = f.value, f.confidence, f.provenance
        pool = partial_pool(own, conf, groups)
        a = np.where(conf > 0, conf / (1 - np.minimum(conf, 1.0) + 0.05), 0.0)
        x, iterations, converged = propagate(pool.pooled, a, pool.prior, W)
        if report is not None:
            report.iterations[axis] = iterations
            report.converged[axis] = converged
        c_final = propagate_confidence(conf, pool.prior_conf, W)
        denom = a + PRIOR_STRENGTH + ALPHA * strength
        for i, t in enumerate(ids):
            contrib: dict[tuple[str, str], float] = {}
            if conf[i] > 0:
                contrib[("method", FUSED_METHOD)] = a[i] * (own[i] - NEUTRAL) / denom[i]
                contrib[("prior", f"partial pooling ({pool.prior_level[i]})")] = \
                    a[i] * (pool.pooled[i] - own[i]) / denom[i]
            has_neighbours = W_hat.indptr[i + 1] > W_hat.indptr[i]
            if conf[i] > 0 or has_neighbours:
                prior_name = f"{pool.prior_level[i]} prior"
            else:
                prior_name = f"{pool.prior_level[i]} prior (no evidence, no neighbours)"
            contrib[("prior", prior_name)] = PRIOR_STRENGTH * (pool.prior[i] - NEUTRAL) / denom[i]
            if has_neighbours:
                lo, hi = W_hat.indptr[i], W_hat.indptr[i + 1]
                js, ws = W_hat.indices[lo:hi], W_hat.data[lo:hi]
                pulls = ALPHA * strength[i] * ws * (x[js] - NEUTRAL) / denom[i]
                order = np.argsort(-np.abs(pulls))
                for k in order[:TOP_NEIGHBOURS]:
                    contrib[("neighbour", f"track:{ids[js[k]]}")] = float(pulls[k])
                if len(order) > TOP_NEIGHBOURS:
                    contrib[("neighbour", f"other neighbours ({len(order) - TOP_NEIGHBOURS})")] = \
                        float(pulls[order[TOP_NEIGHBOURS:]].sum())
            out[(t, axis)] = SmoothedScore(
                value=float(min(1.0, max(0.0, x[i]))),
                confidence=float(min(1.0, max(0.0, c_final[i]))),
                provenance=prov[i] if conf[i] > 0 else "propagated",
                contributions={k: float(v) for k, v in contrib.items()})
    return out
