"""Synthetic weekly mood series for tuning and benchmarking the change-point detectors.

A week's value is what mart_mood_week computes: the listen-weighted mean of the listened tracks'
axis scores. Listening is simulated as sessions (an album or playlist: listens share a level),
so a week's mean is noisier than its listen count suggests; the user's latent taste drifts as an
AR(1) around a baseline (weeks are autocorrelated, as in real listening); listens per week vary
(a user-level rate times a weekly gamma factor), and weeks under `min_listens` are left out, as
in the mart (var cusum_min_week_listens).
"""

from __future__ import annotations

import numpy as np


def weekly_listens(rng: np.random.Generator, weeks: int = 104, shift_at: int | None = None,
                   shift: float = 0.0) -> list[np.ndarray]:
    """Per week 0..weeks-1, the axis scores of that week's listens (possibly none); `shift` is
    added to the latent level from week `shift_at` on."""
    base = rng.uniform(0.3, 0.7)
    rate = rng.lognormal(np.log(40), 0.6)          # listens per week, user level
    phi = rng.uniform(0.3, 0.7)                     # week-to-week persistence of the taste
    latent_sd = rng.uniform(0.02, 0.04)             # stationary sd of the latent level
    level = 0.0
    out = []
    for w in range(weeks):
        level = phi * level + rng.normal(0, latent_sd * np.sqrt(1 - phi * phi))
        n = rng.poisson(rate * rng.gamma(2.0, 0.5))
        mu = base + level + (shift if shift_at is not None and w >= shift_at else 0.0)
        sessions = max(1, int(np.ceil(n / rng.uniform(6, 14))))
        session_levels = rng.normal(mu, 0.12, sessions)
        which = rng.integers(0, sessions, n)
        out.append(np.clip(session_levels[which] + rng.normal(0, 0.15, n), 0, 1))
    return out


def weekly_series(rng: np.random.Generator, weeks: int = 104, shift_at: int | None = None,
                  shift: float = 0.0, min_listens: int = 3) -> tuple[list[float], list[int]]:
    """(weekly means, their week indices) for one user × axis, weeks under `min_listens` left out."""
    listens = weekly_listens(rng, weeks, shift_at, shift)
    idx = [w for w, values in enumerate(listens) if len(values) >= min_listens]
    return [float(listens[w].mean()) for w in idx], idx
