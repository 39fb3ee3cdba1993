"""Tonal features: a harmonic pitch class profile (HPCP), chroma statistics and the key.

The tonal analysis runs on the 11.025 kHz mid signal in 1024-sample Hann frames (93 ms, 10.8 Hz
bins; the resolution of Essentia's KeyExtractor at 44.1 kHz) without overlap. Per frame:

1. spectral peaks between 40 Hz and 3.5 kHz (local maxima above -80 dBFS, the 60 strongest),
   refined by parabolic interpolation of the dB spectrum;
2. spectral whitening (see `spectral_peaks`): each peak's level relative to the frame's
   spectral envelope, so the kick and bass do not outweigh the chords;
3. a global tuning estimate: the energy-weighted circular mean of the peaks' deviation from
   the 440 Hz equal-tempered grid;
4. a 12-bin HPCP (Gomez 2006; bin 0 = A, as Essentia's): each whitened peak adds its energy to
   the nearest pitch class under a cosine window of one semitone, plus - for the key profile -
   to the fundamentals it may be the 3rd or 5th harmonic of (weights as Essentia's
   `harmonics=4`). Frames are not normalised, so loud passages count more.

The key (see `choose_key`) combines the EDMA profile correlation of the mean HPCP with chord
evidence from frame-wise triad matching. The profile-only keys of the "edma", "krumhansl",
"temperley" and "bgate" profiles (Essentia's `Key` on the same HPCP) are reported as
alternatives; the 12-bin chroma (C..B, fundamental contributions only, each frame summing to 1)
is summarised by its mean and standard deviation.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

import essentia

essentia.log.infoActive = False
import essentia.standard as es  # noqa: E402

SR = 11025
N_FFT = 1024
HOP = 1024
MIN_HZ, MAX_HZ = 40.0, 3500.0
MAX_PEAKS = 60
PEAK_THRESHOLD_DB = -80.0  # absolute, 0 dB = full-scale sine
ENVELOPE_STEP_HZ = 100.0
ENVELOPE_MAX_HZ = 1.2 * MAX_HZ
HPCP_SIZE = 12
HPCP_WINDOW_SEMITONES = 1.0
# a peak also counts for the fundamentals it could be a harmonic of: harmonics 1, 2 and 4
# (same pitch class), 3 (a fifth + octave below) and 5 (a major third + 2 octaves below)
HARMONIC_WEIGHTS = ((0.0, 3.0), (12.0 * math.log2(3.0) - 12.0, 1.0),
                    (12.0 * math.log2(5.0) - 24.0, 24.0 / (12.0 * math.log2(5.0))))
PCP_THRESHOLD = 0.2
_CHUNK_FRAMES = 2048  # tonal frames per block (bounded memory on long files)
# harmonic evidence for the key decision (see choose_key)
CHORD_WINDOW_S = 0.75
CHORD_MIN_SIMILARITY = 0.6
CHORD_FIT_WEIGHT = 2.0
TONIC_WEIGHT = 0.5
CHORD_TIE_FIT = 0.05
CHORD_TIE_TONIC = 0.1
# EDMA key profiles (Faraldo et al. 2016, as shipped with Essentia's Key), index 0 = tonic
_EDMA_MAJOR = (0.16519551, 0.04749026, 0.08293076, 0.06687112, 0.09994645, 0.09274123,
               0.05294487, 0.13159476, 0.05218986, 0.07443653, 0.06940723, 0.0642515)
_EDMA_MINOR = (0.17235348, 0.05336489, 0.0761009, 0.10043649, 0.05621498, 0.08527853,
               0.0497915, 0.13451001, 0.07458916, 0.05003023, 0.09187879, 0.05545106)
KEY_PROFILES = {"edma": (np.array(_EDMA_MAJOR), np.array(_EDMA_MINOR))}
_ENVELOPE_WEIGHTS: dict = {}
DEFAULT_PROFILE = "edma"
ALTERNATIVE_PROFILES = ("krumhansl", "temperley", "bgate")
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}
_local = threading.local()


def _key_algorithm(profile: str):
    """Essentia's Key for `profile`, built once per thread (construction is not free)."""
    cache = getattr(_local, "keys", None)
    if cache is None:
        cache = _local.keys = {}
    if profile not in cache:
        # plain profile correlation (no synthetic harmonics/chords added to the profiles)
        cache[profile] = es.Key(profileType=profile, pcpSize=HPCP_SIZE, usePolyphony=False,
                                useThreeChords=False)
    return cache[profile]


def _whitening_envelope(power: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-frame spectral envelope (dB) sampled every ENVELOPE_STEP_HZ: at each point the
    energy-weighted mean energy of the bins in an asymmetric window (-34 % .. +58 % of the
    frequency, at least +/-50 Hz) under a (1 - |x|)^4 taper - close to the spectral peaks,
    ignoring the valleys between them (the envelope of Essentia's SpectralWhitening)."""
    n_bins = power.shape[1]
    nyquist = SR / 2.0
    top = min(ENVELOPE_MAX_HZ, nyquist)
    key = (n_bins, SR)
    if key not in _ENVELOPE_WEIGHTS:
        grid = np.arange(0.0, top + 1e-9, ENVELOPE_STEP_HZ)
        bins = np.arange(n_bins)
        weights = np.zeros((n_bins, grid.shape[0]))
        for g, f in enumerate(grid):
            b = int(np.clip(int((f - max(50.0, 0.34 * f)) / nyquist * (n_bins - 1) + 0.5),
                            0, n_bins - 1))
            e = int(np.clip(int((f + max(50.0, 0.58 * f)) / nyquist * (n_bins - 1) + 0.5),
                            b + 1, n_bins))
            c, half = (b + e) / 2.0, e - (b + e) / 2.0
            sel = bins[b:e]
            weights[b:e, g] = (1.0 - np.abs(sel - c) / half) ** 4
        _ENVELOPE_WEIGHTS[key] = (weights, float(ENVELOPE_STEP_HZ))
    weights, step = _ENVELOPE_WEIGHTS[key]
    num = (power * power) @ weights
    den = power @ weights
    env = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    env[:, -1] = env[:, -2]
    return 10.0 * np.log10(np.maximum(env, 1e-30)), step


def spectral_peaks(mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frame index, frequency Hz, magnitude, whitened magnitude) of every tonal frame's peaks.

    Whitening: each peak's level relative to the frame's spectral envelope, 0 dB at or above
    it, down to -30 dB below it (weaker peaks are dropped), minus a tilt of 5 dB per kHz that
    favours the fundamentals over their upper partials (Essentia's SpectralWhitening). It is
    what makes bass-heavy mixes usable: without it the kick and bass decide the key."""
    x = np.ascontiguousarray(mono, dtype=np.float32)
    if x.shape[0] < N_FFT:
        x = np.pad(x, (0, N_FFT - x.shape[0]))
    frames = sliding_window_view(x, N_FFT)[::HOP]
    parts = [_frame_peaks(frames[start:start + _CHUNK_FRAMES], start)
             for start in range(0, frames.shape[0], _CHUNK_FRAMES)]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore


def _frame_peaks(frames: np.ndarray, first: int) -> tuple[np.ndarray, ...]:
    window = signal.get_window("hann", N_FFT).astype(np.float32)
    window *= 2.0 / window.sum()  # a full-scale sine peaks at magnitude 1
    spec = sfft.rfft(frames * window, axis=1, workers=1)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float64)
    env_db, step = _whitening_envelope(power)
    lo_bin = max(1, int(math.floor(MIN_HZ * N_FFT / SR)))
    hi_bin = min(N_FFT // 2 - 1, int(math.ceil(MAX_HZ * N_FFT / SR)))
    db = 10.0 * np.log10(power[:, lo_bin - 1:hi_bin + 2] + 1e-30)
    centre = db[:, 1:-1]
    is_peak = (centre > db[:, :-2]) & (centre >= db[:, 2:])
    is_peak &= centre > PEAK_THRESHOLD_DB
    ranked = np.where(is_peak, centre, -np.inf)
    if ranked.shape[1] > MAX_PEAKS:  # keep the MAX_PEAKS strongest per frame
        cut = np.partition(ranked, -MAX_PEAKS, axis=1)[:, -MAX_PEAKS][:, None]
        is_peak &= ranked >= cut
    f_idx, k_idx = np.nonzero(is_peak)
    a, b, c = db[f_idx, k_idx], db[f_idx, k_idx + 1], db[f_idx, k_idx + 2]
    denom = a - 2.0 * b + c
    p = np.clip(np.divide(0.5 * (a - c), denom, out=np.zeros_like(a), where=denom < 0),
                -0.5, 0.5)
    freq = (k_idx + lo_bin + p) * SR / N_FFT
    peak_db = b - 0.25 * (a - c) * p
    keep = (freq >= MIN_HZ) & (freq <= MAX_HZ)
    f_idx, freq, peak_db = f_idx[keep], freq[keep], peak_db[keep]
    # envelope at the peak frequency: linear interpolation between grid points
    pos = freq / step
    g = np.minimum(pos.astype(int), env_db.shape[1] - 2)
    t = pos - g
    env = env_db[f_idx, g] * (1.0 - t) + env_db[f_idx, g + 1] * t
    rel = np.minimum(peak_db - env, 0.0)
    white_db = np.where(rel > -30.0, rel, -200.0) - 20.0 * freq / 4000.0
    return f_idx + first, freq, 10.0 ** (peak_db / 20.0), 10.0 ** (white_db / 20.0)


def tuning_cents(freq: np.ndarray, weight: np.ndarray) -> float:
    """Weighted circular mean deviation of the peaks from A440 equal temperament, in cents."""
    if freq.size == 0 or not np.any(weight > 0):
        return 0.0
    angle = 2.0 * np.pi * 12.0 * np.log2(freq / 440.0)  # one semitone = one turn
    mean = math.atan2(float(np.sum(weight * np.sin(angle))),
                      float(np.sum(weight * np.cos(angle))))
    return 100.0 * mean / (2.0 * np.pi)


def hpcp_frames(mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame 12-bin HPCP of the whitened peak energies (A-based, not normalised):
    (with harmonic contributions - for the key profile, fundamentals only - for chroma and
    chords, tuning offset in cents)."""
    n_frames = max(1, 1 + (max(mono.shape[0], N_FFT) - N_FFT) // HOP)
    f_idx, freq, _amp, white = spectral_peaks(mono)
    energy = white * white
    cents = tuning_cents(freq, energy)
    with_harmonics = np.zeros((n_frames, HPCP_SIZE))
    plain = np.zeros((n_frames, HPCP_SIZE))
    if freq.size == 0:
        return with_harmonics, plain, cents
    ref = 440.0 * 2.0 ** (cents / 1200.0)
    per = HPCP_SIZE / 12.0
    half = HPCP_WINDOW_SEMITONES / 2.0
    reach = int(math.ceil(half * per))
    semitones = 12.0 * np.log2(freq / ref)
    for shift, strength in HARMONIC_WEIGHTS:
        pos = (semitones - shift) * per  # in HPCP bins
        centre = np.round(pos).astype(int)
        for offset in range(-reach, reach + 1):
            b = centre + offset
            dist = (pos - b) / per  # semitones
            inside = np.abs(dist) <= half
            w = (np.cos(np.pi * dist / HPCP_WINDOW_SEMITONES) * energy)[inside]
            cell = (f_idx[inside], b[inside] % HPCP_SIZE)
            np.add.at(with_harmonics, cell, w * strength * strength)
            if shift == 0.0:
                np.add.at(plain, cell, w)
    return with_harmonics, plain, cents


def chroma_from_hpcp(hpcp: np.ndarray) -> np.ndarray:
    """(frames, 12) chroma C..B from A-based 36-bin HPCP frames, each row summing to 1 (zero
    rows stay zero)."""
    per = HPCP_SIZE // 12
    folded = np.roll(hpcp, per // 2, axis=1).reshape(hpcp.shape[0], 12, per).sum(axis=2)
    chroma = np.roll(folded, 9, axis=1)  # A-based index j -> pitch class (9 + j) % 12
    total = chroma.sum(axis=1, keepdims=True)
    return np.divide(chroma, total, out=np.zeros_like(chroma), where=total > 0)


def key_correlations(pcp: np.ndarray, profile: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Pearson correlation of an A-based 12-bin profile with the 24 rotated key profiles:
    index t = major key on A-based pitch class t, 12 + t = minor."""
    rotations = np.stack([np.roll(profile[m], t) for m in (0, 1) for t in range(12)])
    x = pcp - pcp.mean()
    r = rotations - rotations.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(r, axis=1) * np.linalg.norm(x)
    return r @ x / np.where(denom > 0, denom, 1.0)


def chord_histogram(plain: np.ndarray) -> tuple[np.ndarray, int | None]:
    """(share of time on each of the 24 major/minor triads, index of the first chord).

    Chroma summed over CHORD_WINDOW_S windows (half overlapping) is matched to binary triad
    templates by cosine similarity; windows below CHORD_MIN_SIMILARITY (drums only, noise,
    unclear harmony) are left out."""
    seg = max(1, int(round(CHORD_WINDOW_S * SR / HOP)))
    if plain.shape[0] < seg:
        return np.zeros(24), None
    cum = np.vstack([np.zeros((1, 12)), np.cumsum(plain, axis=0)])
    starts = np.arange(0, plain.shape[0] - seg + 1, max(1, seg // 2))
    windows = cum[starts + seg] - cum[starts]
    norm = np.linalg.norm(windows, axis=1, keepdims=True)
    sim = (windows / np.where(norm > 0, norm, 1.0)) @ _TRIADS.T
    label = sim.argmax(axis=1)
    ok = (sim.max(axis=1) >= CHORD_MIN_SIMILARITY) & (norm[:, 0] > 0)
    hist = np.bincount(label[ok], minlength=24).astype(float)
    first = int(label[ok][0]) if np.any(ok) else None
    return hist / max(hist.sum(), 1.0), first


def relative_key(key: int) -> int:
    """The relative minor of a major key / relative major of a minor key (same pitch set)."""
    return 12 + (key + 9) % 12 if key < 12 else (key - 12 + 3) % 12


def choose_key(pcp: np.ndarray, chords: np.ndarray, first_chord: int | None) -> tuple[int, float]:
    """(key index as in `key_correlations`, its profile correlation).

    Score = EDMA profile correlation + CHORD_FIT_WEIGHT x share of chords diatonic to the key
    + TONIC_WEIGHT x share of time on its tonic triad. Chromatic chords are rare, so a key that
    leaves chords unexplained loses; and a key whose tonic chord is rarely heard loses to one
    that shares its chords and whose tonic is heard (i-VII-VI-VII is minor, not the major key
    of the VII chord).

    Relative keys (C major / A minor) can share chord vocabulary *and* tonic share - a rotated
    loop (vi-IV-I-V vs I-V-vi-IV) - and then only the loop's phase tells them apart. In that
    tie (fit within CHORD_TIE_FIT, tonic share within CHORD_TIE_TONIC) the opening chord of the
    track, when known, decides: loops start on their tonic."""
    corr = key_correlations(pcp, KEY_PROFILES[DEFAULT_PROFILE])
    fit = _DIATONIC @ chords
    score = corr + CHORD_FIT_WEIGHT * fit + TONIC_WEIGHT * chords
    best = int(np.argmax(score))
    rel = relative_key(best)
    if (first_chord == rel and fit[rel] >= fit[best] - CHORD_TIE_FIT
            and chords[rel] >= chords[best] - CHORD_TIE_TONIC):
        best = rel
    return best, float(corr[best])


def analyse(mono: np.ndarray, at_start: bool = True) -> dict:
    """Key, mode and strength (0..1, the EDMA profile correlation), the profile-only keys of
    every profile (`key_alternatives`), chroma statistics and tuning of an 11.025 kHz mono
    signal. `at_start`: the signal starts at the beginning of the track, so its first chord
    may serve as the opening chord. Keys are None below a second or without tonal peaks."""
    result: dict = {"key": None, "mode": None, "key_strength": None, "key_alternatives": {},
                    "chroma_mean": None, "chroma_std": None, "tuning_cents": None}
    if mono.shape[0] < SR or not np.any(mono):
        return result
    harm, plain, cents = hpcp_frames(mono)
    active = plain.max(axis=1) > 0
    if not np.any(active):
        return result
    chroma = chroma_from_hpcp(plain[active])
    result["chroma_mean"] = [float(v) for v in chroma.mean(axis=0)]
    result["chroma_std"] = [float(v) for v in chroma.std(axis=0)]
    result["tuning_cents"] = float(cents)
    pcp = harm.mean(axis=0)
    pcp = pcp / pcp.max()
    pcp[pcp < PCP_THRESHOLD] = 0.0  # drop the noise floor of the profile
    for profile in (DEFAULT_PROFILE, *ALTERNATIVE_PROFILES):
        key, scale, strength = _estimate_key(essentia.array(pcp.astype(np.float32)), profile)
        result["key_alternatives"][profile] = {"key": key, "scale": scale, "strength": strength}
    chords, first = chord_histogram(plain)
    best, strength = choose_key(pcp, chords, first if at_start else None)
    result["key"] = PITCH_CLASSES[(best % 12 + 9) % 12]  # A-based -> name
    result["mode"] = "minor" if best >= 12 else "major"
    result["key_strength"] = min(1.0, max(0.0, strength))
    return result


def _estimate_key(pcp: np.ndarray, profile: str) -> tuple[str | None, str | None, float | None]:
    key, scale, strength, _second = _key_algorithm(profile)(pcp)
    if not key or scale not in ("major", "minor") or not math.isfinite(strength):
        return None, None, None
    return _FLAT_TO_SHARP.get(key, key), scale, min(1.0, max(0.0, float(strength)))


def _triads() -> np.ndarray:
    t = np.zeros((24, 12))
    for root in range(12):
        t[root, [root, (root + 4) % 12, (root + 7) % 12]] = 1.0
        t[12 + root, [root, (root + 3) % 12, (root + 7) % 12]] = 1.0
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def _diatonic() -> np.ndarray:
    """(24 keys, 24 chords) 1 where the triad belongs to the key: major keys I ii iii IV V vi;
    minor keys i iv v III VI VII and the harmonic-minor V."""
    d = np.zeros((24, 24))
    for t in range(12):
        for step, minor in ((0, 0), (2, 1), (4, 1), (5, 0), (7, 0), (9, 1)):
            d[t, (t + step) % 12 + 12 * minor] = 1.0
        for step, minor in ((0, 1), (5, 1), (7, 1), (7, 0), (3, 0), (8, 0), (10, 0)):
            d[12 + t, (t + step) % 12 + 12 * minor] = 1.0
    return d


_TRIADS = _triads()
_DIATONIC = _diatonic()
