"""Side-chain "pumping": how much the sustained parts of a mix duck every time the kick hits.

In side-chained dance music the bass and pads dip right after each kick and swell back before
the next one, so around every kick the kick's low-band envelope is *anti*-correlated with the
level of the bass/pad band. The measure is that correlation, taken kick by kick:

1. kick envelope: RMS of a 30-200 Hz band-pass of the mid (L+R) signal on 5 ms frames; kicks
   are the strongest rises of that envelope (at least 120 ms apart, and at least a tenth of
   the envelope's level);
2. body envelopes: level in dB of a 300-2000 Hz band-pass of the mid signal (bass harmonics,
   pads, chords; above the kick's own pitch sweep) and of a 150-4000 Hz band-pass of the side
   (L-R) signal. dB because ducking is a gain change. The side signal matters because real
   kicks are not pure sub-bass: their click and body spill into the mid band right when the
   bus ducks, which hides the dip. Kicks sit in the centre, pads, reverbs and chords usually
   do not, so the side channel shows the dip without the kick on top of it;
3. for each kick a window from 60 ms before to 150 ms after it, each window mean-removed so
   only the movement *around the kick* counts - not arrangement changes, and not instruments
   that merely alternate with the kick (an off-beat bassline plays between kicks, not under a
   duck);
4. raw = Pearson correlation between the concatenated kick windows and the *negated* body
   windows - the mean of the mid and side correlations when the side carries at least
   SIDE_MIN_DB of the mid's body-band energy, else the mid one alone; score = raw mapped
   linearly onto 0..1.

Within one piece of music raw grows with the ducking depth (benchmarks/RESULTS.md: rendered
with 0-100 % ducking, every track's raw increases monotonically). Across different tracks the
absolute level still depends on the arrangement and on how much the kick spills into the body
band, so compare scores across a library as a tendency, not a measurement in dB.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

ANALYSIS_SR = 11025  # plenty for bands below 4 kHz, and 4x cheaper to filter than 44.1 kHz
FRAME_S = 0.005
KICK_BAND_HZ = (30.0, 200.0)
BODY_BAND_HZ = (300.0, 2000.0)
SIDE_BAND_HZ = (150.0, 4000.0)
SIDE_MIN_DB = -25.0
WINDOW_S = (0.060, 0.150)  # before / after each kick
MIN_KICK_GAP_S = 0.120
KICK_THRESHOLD = 0.5  # relative to the 99.5th percentile of envelope rises
KICK_MIN_RISE = 0.1  # relative to the 95th percentile of the envelope itself
MIN_KICKS = 8
# raw correlation -> 0..1 score
RAW_AT_ZERO = 0.05
RAW_AT_ONE = 0.55


def pumpiness(audio: np.ndarray, sr: int, side: np.ndarray | None = None) -> tuple[float, float]:
    """(score in 0..1, raw correlation in -1..1) of a mono (n,) or stereo (n, 2) signal.

    With a mono `audio`, `side` may carry the (L-R)/2 signal at the same rate. Returns
    (0.0, 0.0) when there are too few kick-like events to judge.
    """
    audio = np.asarray(audio)
    if audio.ndim == 2:
        mid = audio.mean(axis=1)
        side = (audio[:, 0] - audio[:, 1]) * 0.5 if audio.shape[1] > 1 else None
    else:
        mid = audio
    mid = _resample(np.asarray(mid, dtype=np.float32), sr, ANALYSIS_SR)
    hop = int(round(FRAME_S * ANALYSIS_SR))
    kick = _band_rms(mid, KICK_BAND_HZ, hop)
    kicks = _kick_frames(kick)
    if kicks.shape[0] < MIN_KICKS:
        return 0.0, 0.0
    raw = _kick_locked_corr(kick, -_db(_band_rms(mid, BODY_BAND_HZ, hop)), kicks)
    if side is not None and np.any(side):
        side = _resample(np.asarray(side, dtype=np.float32), sr, ANALYSIS_SR)
        side_body = _band_rms(side, SIDE_BAND_HZ, hop)
        mid_body = _band_rms(mid, SIDE_BAND_HZ, hop)
        ratio = float(np.sum(side_body ** 2)) / max(float(np.sum(mid_body ** 2)), 1e-20)
        if ratio > 0 and 10.0 * math.log10(ratio) >= SIDE_MIN_DB:
            raw = 0.5 * (raw + _kick_locked_corr(kick, -_db(side_body), kicks))
    score = float(np.clip((raw - RAW_AT_ZERO) / (RAW_AT_ONE - RAW_AT_ZERO), 0.0, 1.0))
    return score, raw


def _db(x: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(x + 1e-6)


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    return signal.resample_poly(x, sr_out // g, sr_in // g).astype(x.dtype, copy=False)


def _band_rms(x: np.ndarray, band: tuple[float, float], hop: int) -> np.ndarray:
    """Frame-wise RMS of a 4th-order Butterworth band-pass of `x`."""
    sos = signal.butter(2, band, btype="bandpass", fs=ANALYSIS_SR, output="sos")
    y = signal.sosfilt(sos.astype(x.dtype), x)
    n = y.shape[0] // hop
    frames = y[: n * hop].reshape(n, hop)
    return np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop)


def _frames(seconds: float) -> int:
    return int(round(seconds / FRAME_S))


def _kick_frames(kick_env: np.ndarray) -> np.ndarray:
    """Frames of kick onsets: the strongest rises of the low-band envelope."""
    rise = np.maximum(0.0, np.diff(kick_env, prepend=kick_env[:1]))
    if rise.size == 0 or not np.any(rise > 0):
        return np.zeros(0, dtype=int)
    # strong relative to the other rises, and a real jump relative to the envelope's level
    # (a steady tone's envelope only wobbles)
    height = max(KICK_THRESHOLD * float(np.percentile(rise, 99.5)),
                 KICK_MIN_RISE * float(np.percentile(kick_env, 95)))
    peaks, _ = signal.find_peaks(rise, height=height, distance=_frames(MIN_KICK_GAP_S))
    before, after = _frames(WINDOW_S[0]), _frames(WINDOW_S[1])
    return peaks[(peaks >= before) & (peaks + after <= kick_env.shape[0])]


def _kick_locked_corr(a: np.ndarray, b: np.ndarray, kicks: np.ndarray) -> float:
    """Pearson correlation of `a` and `b` over mean-removed windows around each kick."""
    if kicks.shape[0] < MIN_KICKS:
        return 0.0
    before, after = _frames(WINDOW_S[0]), _frames(WINDOW_S[1])
    idx = kicks[:, None] + np.arange(-before, after)[None, :]
    wa, wb = a[idx], b[idx]
    wa = wa - wa.mean(axis=1, keepdims=True)
    wb = wb - wb.mean(axis=1, keepdims=True)
    denom = math.sqrt(float(np.sum(wa * wa)) * float(np.sum(wb * wb)))
    if denom <= 1e-12:
        return 0.0
    return float(np.sum(wa * wb) / denom)
