"""The shared short-time spectrum and everything derived from it (timbre, HPSS, onsets).

One STFT pass over the 22.05 kHz mono mix - 1024-sample Hann frames (46 ms, 21.5 Hz bins) every
256 samples (11.6 ms, `FPS` ~ 86 frames/s), frames centred on t = i * HOP / SR - feeds:

* frame-wise spectral descriptors (centroid, rolloff, flatness, flux), summarised as mean and
  standard deviation over the non-silent frames;
* a 64-band mel power spectrogram, itself reused for MFCCs, the onset novelty curve (tempo and
  onset rate) and harmonic/percussive separation;
* kick-band (30-120 Hz) and snare-band (1.5-6 kHz) amplitudes for the tempo-octave decision.

The spectrum is processed in chunks of frames so memory stays bounded on long files; only the
per-frame descriptors and the (frames x 64) mel matrix are kept. 22.05 kHz has the same window
length and bin width as the 2048-sample frames at 44.1 kHz used by "mir-1"; descriptors only lose
content above 11 kHz (relevant mostly for the rolloff of very bright masters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

SR = 22050
N_FFT = 1024
HOP = 256
FPS = SR / HOP
N_MELS = 64
N_MFCC = 13
_CHUNK_FRAMES = 2048
_SILENCE_DB = -70.0  # frame energy relative to a full-scale sine
ROLLOFF_FRACTION = 0.85
KICK_BAND_HZ = (30.0, 120.0)
SNARE_BAND_HZ = (1500.0, 6000.0)
# harmonic/percussive separation on the mel magnitude at FPS / 2 (23 ms frames)
HPSS_TIME_KERNEL = 9  # frames: ~0.2 s, longer than any drum hit
HPSS_FREQ_KERNEL = 9  # mel bands: wider than one partial, narrower than a noise burst
_HPSS_CHUNK = 4096  # pooled frames per block (bounded memory on long files)
# onset novelty regions: kick/bass, low-mid body, snare/vocal presence, hats/air
NOVELTY_BANDS_HZ = ((0.0, 200.0), (200.0, 1000.0), (1000.0, 4000.0), (4000.0, SR / 2.0 + 1.0))
# onset picking on the novelty curve
ONSET_WAIT_S = 0.05
ONSET_MEDIAN_S = 0.4
ONSET_DELTA = 0.5  # in units of the novelty's mean absolute deviation above the local median
ONSET_MIN_DB = 1.0  # absolute floor: mean rise over all mel bands (noise/steady tones stay below)


@dataclass
class Spectrogram:
    """Frame-wise descriptors of one mono 22.05 kHz signal (see module doc)."""

    centroid: np.ndarray
    rolloff: np.ndarray
    flatness: np.ndarray
    flux: np.ndarray
    zcr: np.ndarray
    kick_amp: np.ndarray
    snare_amp: np.ndarray
    mel: np.ndarray = field(repr=False)  # (frames, N_MELS) power
    loud: np.ndarray = field(repr=False)  # frames above the silence threshold

    @property
    def n_frames(self) -> int:
        return int(self.centroid.shape[0])


def resample(x: np.ndarray, sr_in: int, sr_out: int, taps_per_phase: int = 0) -> np.ndarray:
    """Polyphase resampling in float32 (identity when the rates match).

    `taps_per_phase` > 0 swaps scipy's default anti-aliasing filter (20 taps per phase) for a
    shorter Hamming-windowed one: a softer cutoff, fine for envelopes well below Nyquist."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if sr_in == sr_out:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    up, down = sr_out // g, sr_in // g
    window: object = ("kaiser", 5.0)
    if taps_per_phase > 0:
        n = taps_per_phase * max(up, down) + 1
        window = signal.firwin(n, 0.9 / max(up, down), window="hamming") * up
        window = window.astype(np.float32)
    return np.ascontiguousarray(signal.resample_poly(x, up, down, window=window),
                                dtype=np.float32)


def compute(mono: np.ndarray) -> Spectrogram:
    """The STFT pass over a 22.05 kHz mono signal (float32)."""
    x = np.ascontiguousarray(mono, dtype=np.float32)
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2))
    if padded.shape[0] < N_FFT:
        padded = np.pad(padded, (0, N_FFT - padded.shape[0]))
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    window = signal.get_window("hann", N_FFT).astype(np.float32)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SR).astype(np.float32)
    kick_bins = (freqs >= KICK_BAND_HZ[0]) & (freqs < KICK_BAND_HZ[1])
    snare_bins = (freqs >= SNARE_BAND_HZ[0]) & (freqs < SNARE_BAND_HZ[1])
    mel_fb = mel_filterbank().T.copy()  # (bins, bands)

    out: dict[str, list[np.ndarray]] = {k: [] for k in (
        "energy", "centroid", "rolloff", "flatness", "flux", "kick", "snare", "mel")}
    prev = None
    for start in range(0, frames.shape[0], _CHUNK_FRAMES):
        spec = sfft.rfft(frames[start:start + _CHUNK_FRAMES] * window, axis=1, workers=1)
        power = spec.real * spec.real + spec.imag * spec.imag  # float32
        mag = np.sqrt(power)
        total = power.sum(axis=1, dtype=np.float64)
        mag_sum = mag.sum(axis=1, dtype=np.float64)
        out["energy"].append(total)
        # magnitude-weighted like Essentia's Centroid: power weighting would pin every track
        # with a kick near 200 Hz
        out["centroid"].append((mag @ freqs) / np.maximum(mag_sum, 1e-20))
        cumulative = np.cumsum(power, axis=1, dtype=np.float64)
        idx = (cumulative < ROLLOFF_FRACTION * total[:, None]).sum(axis=1)
        out["rolloff"].append(freqs[np.minimum(idx, freqs.shape[0] - 1)])
        body = power[:, 1:] + np.float32(1e-20)
        out["flatness"].append(np.exp(np.log(body).mean(axis=1, dtype=np.float64))
                               / np.maximum(body.mean(axis=1, dtype=np.float64), 1e-20))
        norm = mag / np.maximum(mag_sum, 1e-20)[:, None].astype(np.float32)
        first = norm[:1] if prev is None else prev
        diff = np.diff(np.concatenate([first, norm]), axis=0)
        np.maximum(diff, 0.0, out=diff)
        out["flux"].append(np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64)))
        prev = norm[-1:]
        out["kick"].append(np.sqrt(power[:, kick_bins].sum(axis=1, dtype=np.float64)))
        out["snare"].append(np.sqrt(power[:, snare_bins].sum(axis=1, dtype=np.float64)))
        out["mel"].append(power @ mel_fb)
    cat = {k: np.concatenate(v) for k, v in out.items()}
    # ~ the energy of a full-scale sine under this window (its peak bin is N_FFT / 4)
    ref = (N_FFT / 4.0) ** 2
    loud = 10.0 * np.log10(cat["energy"] / ref + 1e-20) > _SILENCE_DB
    return Spectrogram(
        centroid=cat["centroid"], rolloff=cat["rolloff"].astype(np.float64),
        flatness=cat["flatness"], flux=cat["flux"], zcr=_frame_zcr(x, cat["energy"].shape[0]),
        kick_amp=cat["kick"], snare_amp=cat["snare"], mel=cat["mel"], loud=loud)


def _frame_zcr(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Fraction of sign changes between consecutive samples in each (centred) frame."""
    if x.shape[0] < 2:
        return np.zeros(n_frames)
    # running count of sign changes at every HOP-th sample, built chunk by chunk (bounded memory)
    marks = np.arange(0, x.shape[0] + HOP, HOP)
    counts = np.zeros(marks.shape[0], dtype=np.int64)
    total, step = 0, HOP * 4096
    for start in range(0, x.shape[0] - 1, step):
        seg = np.signbit(x[start:start + step + 1])
        cum = np.cumsum(seg[1:] != seg[:-1], dtype=np.int32)
        sel = (marks > start) & (marks <= start + cum.shape[0])
        counts[sel] = total + cum[marks[sel] - start - 1]
        total += int(cum[-1]) if cum.size else 0
    counts[marks > x.shape[0] - 1] = total
    centres = np.arange(n_frames) * HOP
    lo = np.clip(centres - N_FFT // 2, 0, x.shape[0] - 1)
    hi = np.clip(centres + N_FFT // 2, 0, x.shape[0] - 1)
    # lo and hi are multiples of HOP except where clipped to the last sample
    def count(at: np.ndarray) -> np.ndarray:
        exact = at % HOP == 0
        out = np.where(exact, counts[np.minimum(at // HOP, counts.shape[0] - 1)], total)
        return out
    return (count(hi) - count(lo)) / np.maximum(hi - lo, 1)


# --------------------------------------------------------------------------- summaries

def _mean_std(values: np.ndarray, sel: np.ndarray) -> tuple[float | None, float | None]:
    v = values[sel]
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std())


def descriptor_stats(spec: Spectrogram) -> dict[str, float | None]:
    """Mean and standard deviation of each frame-wise descriptor over the non-silent frames."""
    stats: dict[str, float | None] = {}
    for name, values in (("spectral_centroid_hz", spec.centroid),
                         ("spectral_rolloff_hz", spec.rolloff),
                         ("spectral_flatness", spec.flatness),
                         ("spectral_flux", spec.flux),
                         ("zcr", spec.zcr)):
        stats[name], stats[f"{name}_std"] = _mean_std(values, spec.loud)
    return stats


def mfcc(spec: Spectrogram) -> np.ndarray:
    """(loud frames, 13) MFCCs: orthonormal DCT-II of the mel power in dB (re full scale),
    floored 80 dB below the loudest cell so empty bands do not add noise (as librosa's)."""
    mel_db = 10.0 * np.log10(np.maximum(spec.mel[spec.loud], 1e-10, dtype=np.float32))
    if mel_db.shape[0] == 0:
        return np.zeros((0, N_MFCC))
    np.maximum(mel_db, mel_db.max() - 80.0, out=mel_db)
    return sfft.dct(mel_db, type=2, norm="ortho", axis=1, workers=1)[:, :N_MFCC]


def mfcc_stats(spec: Spectrogram) -> tuple[list[float] | None, list[float] | None]:
    coeffs = mfcc(spec).astype(np.float64)
    if coeffs.shape[0] == 0:
        return None, None
    return [float(v) for v in coeffs.mean(axis=0)], [float(v) for v in coeffs.var(axis=0)]


def hpss_energies(spec: Spectrogram) -> tuple[float, float]:
    """(harmonic, percussive) energy of the mel spectrogram by median-filter HPSS.

    Median filtering (FitzGerald 2010) on the mel *magnitude* at 23 ms frames: along time it
    keeps sustained partials (harmonic), along frequency broadband hits (percussive). Soft
    Wiener masks split each cell's power between the two.
    """
    mel = spec.mel[: spec.n_frames // 2 * 2]
    loud = spec.loud[: spec.n_frames // 2 * 2].reshape(-1, 2).any(axis=1)
    if mel.shape[0] == 0:
        return 0.0, 0.0
    pooled = mel.reshape(-1, 2, mel.shape[1]).mean(axis=1)  # power, 23 ms frames
    mag = np.sqrt(pooled)
    e_h = e_p = 0.0
    pad = HPSS_TIME_KERNEL // 2
    for start in range(0, mag.shape[0], _HPSS_CHUNK):  # time chunks with a kernel of overlap
        lo, hi = max(0, start - pad), min(mag.shape[0], start + _HPSS_CHUNK + pad)
        block = mag[lo:hi]
        harm = median_filter(block, HPSS_TIME_KERNEL, axis=0)[start - lo:start - lo + _HPSS_CHUNK]
        perc = median_filter(block[start - lo:start - lo + _HPSS_CHUNK], HPSS_FREQ_KERNEL, axis=1)
        h2, p2 = harm * harm, perc * perc
        total = h2 + p2
        mask_h = np.divide(h2, total, out=np.full_like(total, 0.5), where=total > 0)
        power = pooled[start:start + _HPSS_CHUNK]
        sel = loud[start:start + _HPSS_CHUNK]
        e_h += float(np.sum((power * mask_h)[sel], dtype=np.float64))
        e_p += float(np.sum((power * (1.0 - mask_h))[sel], dtype=np.float64))
    return e_h, e_p


def median_filter(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median of odd `size` along `axis` (np.partition based), mirrored at the ends -
    not edge-repeated, which would make a partial in the lowest mel band look broadband."""
    half = size // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (half, half)
    windows = sliding_window_view(np.pad(x, pad, mode="symmetric"), size, axis=axis)
    return np.partition(windows, half, axis=-1)[..., half]


# --------------------------------------------------------------------------- onsets

def novelty_bands(spec: Spectrogram) -> np.ndarray:
    """(len(NOVELTY_BANDS_HZ), frames) onset novelty per frequency region: the mean over its
    mel bands of the positive log-power rise from the previous frame (log power floored 80 dB
    below the track maximum, so it is gain-invariant)."""
    if spec.n_frames == 0:
        return np.zeros((len(NOVELTY_BANDS_HZ), 0))
    db = 10.0 * np.log10(np.maximum(spec.mel, 1e-10, dtype=np.float32))
    np.maximum(db, db.max() - 80.0, out=db)
    rise = np.diff(db, axis=0, prepend=db[:1])
    np.maximum(rise, 0.0, out=rise)
    centres = mel_centres()
    return np.stack([rise[:, (centres >= lo) & (centres < hi)].mean(axis=1, dtype=np.float64)
                     for lo, hi in NOVELTY_BANDS_HZ])


def novelty(spec: Spectrogram, bands: np.ndarray | None = None) -> np.ndarray:
    """Full-band onset novelty: the band novelties weighted by their number of mel bands
    (= the mean over all mel bands)."""
    bands = novelty_bands(spec) if bands is None else bands
    centres = mel_centres()
    counts = np.array([np.sum((centres >= lo) & (centres < hi)) for lo, hi in NOVELTY_BANDS_HZ])
    return (counts[:, None] * bands).sum(axis=0) / counts.sum()


def onset_times(nov: np.ndarray) -> np.ndarray:
    """Frame indices of onsets: local maxima of the novelty that stand out from its running
    median by ONSET_DELTA mean absolute deviations and reach ONSET_MIN_DB, at least
    ONSET_WAIT_S apart."""
    if nov.shape[0] < 3 or not np.any(nov > 0):
        return np.zeros(0, dtype=int)
    width = int(round(ONSET_MEDIAN_S * FPS)) | 1
    local = median_filter(nov, min(width, (nov.shape[0] // 2) * 2 - 1), axis=0)
    spread = float(np.mean(np.abs(nov - np.median(nov))))
    height = local + ONSET_DELTA * spread
    peaks, _ = signal.find_peaks(nov, distance=max(1, int(round(ONSET_WAIT_S * FPS))))
    keep = peaks[(nov[peaks] > height[peaks]) & (nov[peaks] >= ONSET_MIN_DB)]
    return keep


# --------------------------------------------------------------------------- mel filterbank

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3.0)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3.0)
    log = 1000.0 * np.exp((m - 15.0) * (math.log(6.4) / 27.0))
    return np.where(m >= 15.0, log, lin)


_MEL_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def mel_centres(n_mels: int = N_MELS, sr: int = SR) -> np.ndarray:
    """Centre frequencies (Hz) of the mel bands."""
    return _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))[1:-1]


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SR) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) area-normalised triangular filters from 0 Hz to sr / 2."""
    key = (n_mels, n_fft, sr)
    if key not in _MEL_CACHE:
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
        edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
        lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
        upper = (edges[2:, None] - freqs[None, :]) / (edges[2:] - edges[1:-1])[:, None]
        fb = np.maximum(0.0, np.minimum(lower, upper))
        fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
        _MEL_CACHE[key] = fb.astype(np.float32)
    return _MEL_CACHE[key]
