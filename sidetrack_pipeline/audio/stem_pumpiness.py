"""Pumpiness from separated stems (Demucs drums + bass/other), the precise variant of the
band-pass proxy in `pumpiness.py`.

With stems the kick no longer shares a band with the bass, so the side-chain measure becomes
direct: around each kick (onset peaks of the drums stem's 30–120 Hz envelope) how far does the
level of the bass + other stems dip, relative to its level just before the kick? The score is the
median dip depth (0 = no ducking, 1 = the music vanishes under every kick).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

FRAME_S = 0.005            # envelope resolution
WINDOW_S = 0.03            # RMS window: longer than a 40 Hz bass period, or the waveform shows
PRE_S, POST_S = 0.06, 0.25  # level before the kick vs. the deepest point after it


def _envelope(x: np.ndarray, sr: int, band: tuple[float, float] | None = None) -> np.ndarray:
    if band is not None:
        sos = butter(4, [band[0], min(band[1], sr / 2 * 0.95)], btype="bandpass", fs=sr, output="sos")
        x = sosfiltfilt(sos, x)
    hop, width = max(1, int(sr * FRAME_S)), max(1, int(sr * WINDOW_S))
    if len(x) < width:
        return np.zeros(0)
    power = np.convolve(x * x, np.ones(width) / width, mode="valid")   # moving mean square
    return np.sqrt(power[::hop] + 1e-12)


def _mono(stem: np.ndarray) -> np.ndarray:
    stem = np.asarray(stem, dtype=np.float64)
    return stem.mean(axis=0) if stem.ndim == 2 else stem


def kick_frames(drums: np.ndarray, sr: int) -> np.ndarray:
    """Frame indices of kicks: peaks of the rising low-band energy of the drums stem."""
    env = _envelope(_mono(drums), sr, (30.0, 120.0))
    if env.size < 3 or env.max() <= 0:
        return np.zeros(0, dtype=int)
    rise = np.maximum(np.diff(env, prepend=env[0]), 0)
    peaks, _ = find_peaks(rise, height=0.25 * rise.max(), distance=int(0.2 / FRAME_S))
    return peaks


def stem_pumpiness(stems: dict[str, np.ndarray], sr: int) -> tuple[float, int]:
    """(score 0–1, kicks used). `stems` holds 'drums' and any of 'bass', 'other' (Demucs names)."""
    if "drums" not in stems:
        raise ValueError("stem pumpiness needs a 'drums' stem")
    music = sum(_mono(stems[name]) for name in ("bass", "other") if name in stems)
    if isinstance(music, int):
        raise ValueError("stem pumpiness needs a 'bass' or 'other' stem")
    kicks = kick_frames(stems["drums"], sr)
    env = _envelope(music, sr)
    pre, post = int(PRE_S / FRAME_S), int(POST_S / FRAME_S)
    depths = []
    for k in kicks:
        if k - pre < 0 or k + post >= env.size:
            continue
        before = np.median(env[k - pre:k])
        if before <= 1e-6:
            continue
        depths.append(1.0 - env[k:k + post].min() / before)
    if len(depths) < 4:
        return 0.0, len(depths)
    return float(np.clip(np.median(depths), 0.0, 1.0)), len(depths)
