"""Personal calibration: learn one user's notion of an axis from their labels (plain numpy/sklearn).

Model (method `personal-v1`), per user and axis:

* Features: the generic axis score (when the axis has one) and the track's vectors — the 16-d
  `mir-v1` vector and, when present, the 400-d musicnn vector — each column standardised over
  the library, each vector block divided by sqrt(its width) so that 400 musicnn columns do not
  drown 16 MIR columns.
* Ridge regression of the *residual* (label − generic score) on those features. The prior of
  every coefficient is zero, so with few or uninformative labels the model stays at the generic
  axis and learns only a correction. The intercept is not penalised. Alpha is chosen by exact
  leave-one-out error (closed form for ridge, via one eigendecomposition of the n×n kernel).
* Calibration into 0–1, fitted on the leave-one-out predictions (never on in-sample ones, which
  are optimistically close to the labels):
  - continuous labels (sliders, 0..1): isotonic regression. Labels are graded values, not
    outcomes, so Platt's logistic fit has nothing to model; isotonic only assumes that a higher
    raw prediction should not mean a lower label, fixes the ridge's systematic shrinkage
    towards the middle, and its output lies in the label range by construction.
  - binary-ish labels (every label within 0.1 of 0 or 1, e.g. ListenBrainz love/hate): Platt
    scaling, a two-parameter logistic curve that yields a probability (isotonic would give
    coarse steps at such sample sizes).
  The calibrator is kept only when its nested-CV error beats the plainly clipped prediction
  (`calibration = 'clip'` otherwise); both errors are reported.
* Confidence per prediction from the Bayesian reading of ridge: predictive sd
  = sigma * sqrt(1 + h(x)), h(x) = x' (Z'Z + alpha I)^-1 x (+1/n for the intercept), where sigma
  is the leave-one-out residual sd. h grows with distance from the labelled tracks.
  confidence = 1 − 2 · sd, clipped to 0..1 (0: the uncertainty spans the whole scale).
* Active learning: `suggest_tracks_to_label` picks the unlabelled tracks of highest h (most
  uncertain), greedily: after each pick h of the others is recomputed as if that track were
  labelled (in Bayesian linear regression the variance reduction does not depend on the label),
  so near-duplicates of a pick lose their uncertainty and suggestions spread out.

Below MIN_LABELS labels nothing is fitted (`NotFitted` says why): leave-one-out over a handful
of labels cannot choose alpha or a calibration map, and the generic axis is the better guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

METHOD = "personal-v1"
MIN_LABELS = 8
ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 25))
PRIOR_ALPHA = 1.0      # for suggestions before any model exists
PRIOR_SIGMA = 0.25     # label sd assumed before any model exists
BINARY_TOLERANCE = 0.1


# --------------------------------------------------------------------------- features

@dataclass
class Features:
    """The design matrix of a set of tracks (one row each), standardised over those tracks."""

    z: np.ndarray                 # (n_tracks, p)
    generic: np.ndarray           # (n_tracks,) generic axis score (0.5 when the axis has none)
    names: list[str]              # column names
    mean: np.ndarray              # per-column mean before scaling
    scale: np.ndarray             # per-column divisor (sd × sqrt(block width))


def build_features(blocks: Mapping[str, np.ndarray], generic: np.ndarray | None) -> Features:
    """Standardise `blocks` (name -> (n_tracks, d) array) and the generic score into one matrix.

    `generic=None` (an axis without a generic score, e.g. 'preference'): the model learns the
    labels from the vectors alone, around a constant 0.5.
    """
    n = next(iter(blocks.values())).shape[0] if blocks else len(generic)
    columns, names, weights = [], [], []
    if generic is not None:
        g = np.asarray(generic, dtype=float).reshape(n, 1)
        columns.append(g)
        names.append("generic")
        weights.append(1.0)
    for name, block in blocks.items():
        block = np.asarray(block, dtype=float).reshape(n, -1)
        columns.append(block)
        names.extend(f"{name}[{i}]" for i in range(block.shape[1]))
        weights.extend([math.sqrt(block.shape[1])] * block.shape[1])
    raw = np.hstack(columns) if columns else np.zeros((n, 0))
    mean = raw.mean(axis=0) if n else np.zeros(raw.shape[1])
    sd = raw.std(axis=0) if n else np.ones(raw.shape[1])
    sd[sd < 1e-12] = 1.0
    scale = sd * np.asarray(weights)
    g_out = (np.asarray(generic, dtype=float) if generic is not None else np.full(n, 0.5))
    return Features((raw - mean) / scale, g_out, names, mean, scale)


# --------------------------------------------------------------------------- ridge (kernel form)

def _ridge_loo(zc: np.ndarray, r: np.ndarray, alphas=ALPHAS):
    """Best alpha by exact leave-one-out MSE; returns (alpha, loo_residuals, dual_coef)."""
    n = zc.shape[0]
    rc = r - r.mean()
    s, u = np.linalg.eigh(zc @ zc.T)
    s = np.clip(s, 0.0, None)
    ut_r = u.T @ rc
    best = None
    for alpha in alphas:
        shrink = s / (s + alpha)
        fitted = u @ (shrink * ut_r)
        h = (u ** 2) @ shrink + 1.0 / n
        loo = (rc - fitted) / np.clip(1.0 - h, 1e-6, None)
        mse = float(np.mean(loo ** 2))
        if best is None or mse < best[0] - 1e-15:
            best = (mse, alpha, loo)
    _, alpha, loo = best
    dual = u @ (ut_r / (s + alpha))
    return alpha, loo, dual


def _leverage(x: np.ndarray, zc: np.ndarray, alpha: float, n: int) -> np.ndarray:
    """h(x) = x'(Zc'Zc + alpha I)^-1 x + 1/n for rows x (already centred on the labelled mean).

    Woodbury: (|x|^2 - k'(K + alpha I)^-1 k) / alpha with k = Zc x, K = Zc Zc'."""
    sq = np.einsum("ij,ij->i", x, x)
    if zc.shape[0] == 0:
        return sq / alpha + (1.0 / n if n else 1.0)
    k = zc @ x.T                                  # (n_lab, m)
    solved = np.linalg.solve(zc @ zc.T + alpha * np.eye(zc.shape[0]), k)
    quad = np.einsum("ij,ij->j", k, solved)
    return np.clip(sq - quad, 0.0, None) / alpha + 1.0 / max(n, 1)


# --------------------------------------------------------------------------- calibrators

def _fit_calibrator(kind: str, raw: np.ndarray, y: np.ndarray) -> dict:
    if kind == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(raw, y)
        return {"kind": "isotonic", "x": [float(v) for v in iso.X_thresholds_],
                "y": [float(v) for v in iso.y_thresholds_]}
    if kind == "platt":
        classes = (y >= 0.5).astype(int)
        if classes.min() == classes.max():
            return {"kind": "clip"}
        lr = LogisticRegression(C=100.0).fit(raw.reshape(-1, 1), classes)
        return {"kind": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    return {"kind": "clip"}


def apply_calibrator(calibrator: Mapping, raw: np.ndarray) -> np.ndarray:
    """Map raw predictions into 0–1 with a stored calibrator (isotonic, platt or clip)."""
    raw = np.asarray(raw, dtype=float)
    kind = calibrator["kind"]
    if kind == "isotonic":
        out = np.interp(raw, calibrator["x"], calibrator["y"])  # flat beyond the ends
    elif kind == "platt":
        out = 1.0 / (1.0 + np.exp(-(calibrator["a"] * raw + calibrator["b"])))
    else:
        out = raw
    return np.clip(out, 0.0, 1.0)


def _nested_cv_mae(kind: str, raw: np.ndarray, y: np.ndarray) -> float:
    """MAE of the calibrator on each label when fitted on the other labels' LOO predictions."""
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        cal = _fit_calibrator(kind, raw[keep], y[keep])
        errors.append(abs(float(apply_calibrator(cal, raw[i:i + 1])[0]) - y[i]))
    return float(np.mean(errors))


def is_binaryish(y: np.ndarray) -> bool:
    y = np.asarray(y, dtype=float)
    return bool(np.all((y <= BINARY_TOLERANCE) | (y >= 1 - BINARY_TOLERANCE)))


# --------------------------------------------------------------------------- the model

@dataclass
class NotFitted:
    axis: str
    n_labels: int
    reason: str


@dataclass
class PersonalModel:
    axis: str
    names: list[str]
    label_mean_z: np.ndarray      # mean design row of the labelled tracks
    coef: np.ndarray              # ridge weights on the standardised design
    intercept: float              # mean residual of the labelled tracks
    alpha: float
    sigma: float                  # leave-one-out residual sd
    calibrator: dict
    z_labelled_c: np.ndarray      # centred labelled design rows (for h(x))
    metrics: dict = field(default_factory=dict)

    @property
    def n_labels(self) -> int:
        return int(self.z_labelled_c.shape[0])

    def raw(self, z: np.ndarray, generic: np.ndarray) -> np.ndarray:
        return generic + self.intercept + (z - self.label_mean_z) @ self.coef

    def uncertainty(self, z: np.ndarray) -> np.ndarray:
        """Epistemic part h(x) of the predictive variance (in units of sigma^2)."""
        return _leverage(z - self.label_mean_z, self.z_labelled_c, self.alpha, self.n_labels)

    def predict(self, features: Features) -> tuple[np.ndarray, np.ndarray]:
        """(value in 0–1, confidence in 0–1) for every row of `features`."""
        value = apply_calibrator(self.calibrator, self.raw(features.z, features.generic))
        sd = self.sigma * np.sqrt(1.0 + self.uncertainty(features.z))
        return value, np.clip(1.0 - 2.0 * sd, 0.0, 1.0)

    def params(self, labelled_track_ids: list[int] | None = None) -> dict:
        """JSON-ready description (stored in user_axis_model.params)."""
        return {
            "features": self.names, "coef": [round(float(c), 8) for c in self.coef],
            "label_mean_z": [round(float(c), 8) for c in self.label_mean_z],
            "intercept": self.intercept, "alpha": self.alpha, "sigma": self.sigma,
            "target": "label - generic", "calibration": self.calibrator,
            "labelled_track_ids": labelled_track_ids or [],
        }


def fit_axis_model(axis: str, features: Features, labelled_rows: np.ndarray,
                   labels: np.ndarray, min_labels: int = MIN_LABELS) -> PersonalModel | NotFitted:
    """Fit one user's model of `axis` from labels on rows `labelled_rows` of `features`."""
    labels = np.asarray(labels, dtype=float)
    rows = np.asarray(labelled_rows, dtype=int)
    n = len(rows)
    if n < min_labels:
        return NotFitted(axis, n, f"{n} label(s) for {axis}; at least {min_labels} are needed "
                                  f"before a personal model is fitted (the generic axis is used)")
    if float(np.ptp(labels)) < 1e-9:
        return NotFitted(axis, n, f"all {n} labels for {axis} are equal ({labels[0]:.2f}): "
                                  f"nothing to learn an ordering from")
    z, g = features.z[rows], features.generic[rows]
    mean_z = z.mean(axis=0)
    zc = z - mean_z
    r = labels - g
    alpha, loo_resid, dual = _ridge_loo(zc, r)
    coef = zc.T @ dual
    loo_raw = labels - loo_resid                   # leave-one-out predictions of the label
    sigma = float(np.sqrt(np.mean(loo_resid ** 2)))
    mae_generic = float(np.mean(np.abs(g - labels)))
    mae_raw = float(np.mean(np.abs(np.clip(loo_raw, 0, 1) - labels)))
    kind = "platt" if is_binaryish(labels) else "isotonic"
    mae_cal = _nested_cv_mae(kind, loo_raw, labels)
    chosen = kind if mae_cal < mae_raw else "clip"
    calibrator = _fit_calibrator(chosen, loo_raw, labels)
    metrics = {
        "n_labels": n, "alpha": alpha, "calibrator_tried": kind, "calibration": calibrator["kind"],
        "cv_mae_generic": round(mae_generic, 5), "cv_mae_raw": round(mae_raw, 5),
        "cv_mae_calibrated": round(mae_cal if chosen != "clip" else mae_raw, 5),
        "cv_mae_calibrator_tried": round(mae_cal, 5), "loo_sigma": round(sigma, 5),
    }
    return PersonalModel(axis, features.names, mean_z, coef, float(r.mean()), alpha, sigma,
                         calibrator, zc, metrics)


# --------------------------------------------------------------------------- active learning

@dataclass(frozen=True)
class Suggestion:
    row: int                 # row in the Features matrix
    uncertainty: float       # predictive sd (epistemic part) before any of these suggestions
    predicted: float | None  # the current personal prediction, when a model exists
    reason: str


def suggest_tracks_to_label(features: Features, labelled_rows, model: PersonalModel | NotFitted | None,
                            k: int = 10) -> list[Suggestion]:
    """The next `k` unlabelled rows worth labelling: most uncertain first, then — as if each pick
    were labelled — the most uncertain given the picks (so near-duplicates are not suggested)."""
    labelled = set(int(i) for i in labelled_rows)
    candidates = np.array([i for i in range(features.z.shape[0]) if i not in labelled], dtype=int)
    if len(candidates) == 0 or k <= 0:
        return []
    fitted = isinstance(model, PersonalModel)
    if fitted:
        alpha, sigma, centre = model.alpha, model.sigma, model.label_mean_z
        base = list(model.z_labelled_c)
        predicted = model.predict(features)[0]
    else:
        rows = sorted(labelled)
        centre = features.z[rows].mean(axis=0) if rows else np.zeros(features.z.shape[1])
        alpha, sigma = PRIOR_ALPHA, PRIOR_SIGMA
        base = list(features.z[rows] - centre)
        predicted = None
    n_lab = max(len(labelled), 1)
    x = features.z[candidates] - centre
    first_sd = sigma * np.sqrt(_leverage(x, np.array(base).reshape(-1, x.shape[1]), alpha, n_lab))
    picked: list[Suggestion] = []
    chosen_rows: list[np.ndarray] = []
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(min(k, len(candidates))):
        zc = np.array(base + chosen_rows).reshape(-1, x.shape[1])
        sd = sigma * np.sqrt(_leverage(x, zc, alpha, n_lab + len(chosen_rows)))
        sd[~available] = -1.0
        j = int(np.argmax(sd))
        available[j] = False
        chosen_rows.append(x[j])
        row = int(candidates[j])
        if fitted:
            reason = (f"uncertain: the model guesses {predicted[row]:.2f} with uncertainty "
                      f"± {first_sd[j]:.2f} (its leave-one-out error on your {model.n_labels} "
                      f"labels: ± {sigma:.2f})")
        else:
            reason = (f"no personal model yet ({len(labelled)}/{MIN_LABELS} labels): "
                      f"far from the tracks labelled so far, covers the library")
        if len(chosen_rows) > 1:
            reason += f"; still uncertain after the {len(chosen_rows) - 1} suggestion(s) above"
        picked.append(Suggestion(row, float(first_sd[j]),
                                 float(predicted[row]) if fitted else None, reason))
    return picked


# --------------------------------------------------------------------------- simulation

MIR_CENTROID = 6   # index of spectral_centroid_hz in the mir-v1 vector (scoring.vectors.FIELDS)


def default_hidden_rule(vectors: np.ndarray, generic: np.ndarray) -> np.ndarray:
    """One person's 'energy': a steep monotone (logistic) function of the generic axis — they
    only call a track energetic once it clearly is — plus a pull towards bright tracks: column 6
    of the mir-v1 vector (log spectral centroid), taken between 0.2 and 0.7 (about 400 Hz to
    2.2 kHz, where most electronic tracks sit). Noise is added to the labels by the caller."""
    centroid = np.asarray(vectors, dtype=float)[:, MIR_CENTROID]
    brightness = np.clip((centroid - 0.2) / 0.5, 0.0, 1.0)
    steep = 1.0 / (1.0 + np.exp(-12.0 * (np.asarray(generic, dtype=float) - 0.55)))
    return np.clip(0.6 * steep + 0.4 * brightness, 0.0, 1.0)


def simulate_calibration(vectors: np.ndarray, generic_axis_scores: np.ndarray,
                         hidden_rule: Callable[[np.ndarray, np.ndarray], np.ndarray] = default_hidden_rule,
                         n_labels: int = 50, seed: int = 0, label_noise: float = 0.05,
                         extra_blocks: Mapping[str, np.ndarray] | None = None) -> dict:
    """Does calibration help? Label `n_labels` random tracks with `hidden_rule` (+ Gaussian label
    noise), fit the personal model, and compare on the held-out tracks the MAE against the
    hidden rule (noise-free) of the generic axis and of the calibrated personal prediction.

    `vectors`: (n_tracks, 16) mir-v1 vectors (the hidden rule reads them); `extra_blocks`: other
    vectors to give the model (e.g. {"msd-musicnn": (n_tracks, 400)})."""
    vectors = np.asarray(vectors, dtype=float)
    generic = np.asarray(generic_axis_scores, dtype=float)
    n = len(generic)
    if n_labels >= n:
        raise ValueError(f"{n_labels} labels leave no held-out track among {n}")
    rng = np.random.default_rng(seed)
    truth = np.clip(np.asarray(hidden_rule(vectors, generic), dtype=float), 0.0, 1.0)
    labelled = np.sort(rng.choice(n, size=n_labels, replace=False))
    held_out = np.setdiff1d(np.arange(n), labelled)
    labels = np.clip(truth[labelled] + rng.normal(0.0, label_noise, n_labels), 0.0, 1.0)
    features = build_features({"mir-v1": vectors, **(extra_blocks or {})}, generic)
    model = fit_axis_model("simulated", features, labelled, labels)
    if isinstance(model, NotFitted):
        raise ValueError(model.reason)
    value, confidence = model.predict(features)
    raw = np.clip(model.raw(features.z, features.generic), 0.0, 1.0)
    return {
        "n_tracks": n, "n_labels": n_labels, "n_held_out": len(held_out), "seed": seed,
        "label_noise": label_noise,
        "mae_uncalibrated": float(np.mean(np.abs(generic[held_out] - truth[held_out]))),
        "mae_calibrated": float(np.mean(np.abs(value[held_out] - truth[held_out]))),
        "mae_ridge_only": float(np.mean(np.abs(raw[held_out] - truth[held_out]))),
        "spearman_uncalibrated": _spearman(generic[held_out], truth[held_out]),
        "spearman_calibrated": _spearman(value[held_out], truth[held_out]),
        "mean_confidence_held_out": float(np.mean(confidence[held_out])),
        "alpha": model.alpha, "calibration": model.calibrator["kind"], "cv": model.metrics,
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    value = spearmanr(a, b).statistic
    return float(value) if np.isfinite(value) else 0.0
