"""Per-track audio features ("mir-1"): tempo, key, loudness, timbre, stereo image, pumping.

`analyze_file(path)` decodes a file and `analyze_signal(decoded)` returns one flat dict (keys:
`FEATURE_KEYS`) whose values map onto the `features` table columns; `extra` is the jsonb column
of secondary descriptors, and `sample_rate` / `channels` describe the source file. Values are
plain Python floats/ints/strings; anything that cannot be computed is None, never NaN. Results
are deterministic for a given input.

Essentia (standard mode) supplies the beat tracker, key, loudness, onset rate, danceability and
dynamic complexity; one chunked numpy STFT (46 ms window, 10 ms hop) supplies the spectral
descriptors and the band envelopes used for the tempo-octave decision.

Tempo octave: beat trackers often lock to half or double the tempo. The candidates T/2, T and
2T of Essentia's estimate are re-scored from the drums themselves:

* backbeat: in backbeat styles (hip-hop, downtempo, rock, drum & bass) the beat period is the
  distance between a kick and the following snare and between that snare and the next kick,
  while kicks do *not* repeat at that period. Measured by cross-correlating a kick onset
  envelope (30-120 Hz) with a snare onset envelope (1.5-6 kHz) at +/- one beat, and the kick
  autocorrelation at one beat. A clear backbeat decides on its own.
* otherwise (four-on-the-floor, or no drums): a log-normal tempo prior centred on 120 BPM plus
  a small bonus for pulse evidence (kick or kick-snare periodicity at the beat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.ndimage import maximum_filter1d, median_filter

import essentia

essentia.log.infoActive = False  # silence the import-time "MusicExtractorSVM" chatter
import essentia.standard as es  # noqa: E402  (after the log switch on purpose)

from sidetrack_pipeline.audio.decode import ANALYSIS_SR, Decoded, load_audio  # noqa: E402
from sidetrack_pipeline.audio.pumpiness import pumpiness  # noqa: E402

ANALYZER_VERSION = "mir-1"

FRAME = 2048
HOP = 441  # 10 ms at 44.1 kHz
FPS = ANALYSIS_SR / HOP
_CHUNK_FRAMES = 1024  # STFT frames per chunk: bounds memory on long files
_SILENCE_DB = -70.0

KICK_BAND_HZ = (30.0, 120.0)
SNARE_BAND_HZ = (1500.0, 6000.0)
MIN_BPM, MAX_BPM = 50.0, 200.0
PRIOR_CENTER_BPM = 120.0
PRIOR_SIGMA_OCTAVES = 0.7
PULSE_WEIGHT = 0.5
BACKBEAT_MIN = 0.4
_XCORR_MAX_LAG_S = 3.0
_LAG_TOLERANCE_S = 0.04
_CONFIDENCE_MAX = 5.32  # RhythmExtractor2013 multifeature confidence range is [0, 5.32]

_FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}

FEATURE_KEYS = (
    "duration_s", "bpm", "bpm_confidence", "key", "mode", "key_confidence", "loudness_lufs",
    "loudness_range_lu", "spectral_centroid_hz", "onset_rate", "stereo_width", "lr_correlation",
    "pumpiness", "danceability", "dynamic_complexity", "analyzer_version", "sample_rate",
    "channels", "extra",
)


# --------------------------------------------------------------------------- entry points

def analyze_file(path: str | Path, excerpt_seconds: float = 0.0) -> dict:
    """Decode `path` (optionally a centred excerpt) and analyse it; raises AudioDecodeError."""
    return analyze_signal(load_audio(path, excerpt_seconds))


def analyze_signal(decoded: Decoded) -> dict:
    """All features of one decoded signal as a flat, JSON-serialisable dict."""
    mono = decoded.mono_at(ANALYSIS_SR)
    frames = spectral_frames(mono)
    tempo = estimate_tempo(mono, frames)
    key, mode, key_strength = _key(mono)
    loudness, loudness_range = _loudness(decoded)
    width, lr_corr = stereo_image(decoded.samples)
    pump_score, pump_raw = pumpiness(decoded.samples, decoded.sample_rate)
    danceability, dynamic_complexity = _dance_and_dynamics(mono)

    extra = {
        "spectral_flatness": _num(frames.mean_flatness()),
        "spectral_rolloff_hz": _num(frames.mean_rolloff()),
        "spectral_flux": _num(frames.mean_flux()),
        "zcr": _num(zero_crossing_rate(mono)),
        "pumpiness_corr": _num(pump_raw),
        "bpm_candidates": tempo.candidates,
        "bpm_method": tempo.method,
        "bpm_tracker": _num(tempo.tracker_bpm),
        "excerpt_offset_s": _num(decoded.offset_s),
        "excerpt_s": _num(decoded.excerpt_s),
    }
    return {
        "duration_s": _num(decoded.duration_s),
        "bpm": _num(tempo.bpm),
        "bpm_confidence": _num(tempo.confidence),
        "key": key,
        "mode": mode,
        "key_confidence": _num(key_strength),
        "loudness_lufs": _num(loudness),
        "loudness_range_lu": _num(loudness_range),
        "spectral_centroid_hz": _num(frames.mean_centroid()),
        "onset_rate": _num(_onset_rate(mono)),
        "stereo_width": _num(width),
        "lr_correlation": _num(lr_corr),
        "pumpiness": _num(pump_score),
        "danceability": _num(danceability),
        "dynamic_complexity": _num(dynamic_complexity),
        "analyzer_version": ANALYZER_VERSION,
        "sample_rate": int(decoded.sample_rate),
        "channels": int(decoded.channels),
        "extra": extra,
    }


# --------------------------------------------------------------------------- spectral frames

@dataclass
class SpectralFrames:
    """Per-frame (10 ms) spectral descriptors and band amplitudes of a 44.1 kHz mono signal."""

    centroid: np.ndarray
    flatness: np.ndarray
    rolloff: np.ndarray
    flux: np.ndarray
    kick_amp: np.ndarray  # sqrt of power in KICK_BAND_HZ
    snare_amp: np.ndarray  # sqrt of power in SNARE_BAND_HZ
    loud: np.ndarray = field(repr=False)  # frames above the silence threshold

    def _mean(self, values: np.ndarray) -> float | None:
        sel = values[self.loud]
        return float(sel.mean()) if sel.size else None

    def mean_centroid(self) -> float | None:
        return self._mean(self.centroid)

    def mean_flatness(self) -> float | None:
        return self._mean(self.flatness)

    def mean_rolloff(self) -> float | None:
        return self._mean(self.rolloff)

    def mean_flux(self) -> float | None:
        return self._mean(self.flux)


def spectral_frames(mono: np.ndarray, rolloff_fraction: float = 0.85) -> SpectralFrames:
    """Hann-windowed STFT (2048 / hop 441, frames centred on t = i * 10 ms), in chunks."""
    padded = np.pad(mono.astype(np.float32), (FRAME // 2, FRAME // 2))
    if padded.shape[0] < FRAME:
        padded = np.pad(padded, (0, FRAME - padded.shape[0]))
    view = np.lib.stride_tricks.sliding_window_view(padded, FRAME)[::HOP]
    window = np.hanning(FRAME).astype(np.float32)
    freqs = np.fft.rfftfreq(FRAME, 1.0 / ANALYSIS_SR)
    kick_bins = (freqs >= KICK_BAND_HZ[0]) & (freqs < KICK_BAND_HZ[1])
    snare_bins = (freqs >= SNARE_BAND_HZ[0]) & (freqs < SNARE_BAND_HZ[1])

    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("centroid", "flatness", "rolloff", "flux", "kick",
                                           "snare", "energy")}
    prev_mag = None
    for start in range(0, view.shape[0], _CHUNK_FRAMES):
        chunk = view[start:start + _CHUNK_FRAMES] * window
        mag = np.abs(np.fft.rfft(chunk, axis=1)).astype(np.float64)
        power = mag * mag
        total = power.sum(axis=1)
        safe_total = np.maximum(total, 1e-20)
        parts["energy"].append(total)
        # magnitude-weighted like Essentia's Centroid on a Spectrum: power weighting would let
        # the kick and sub-bass pin every track near 200 Hz
        parts["centroid"].append((mag @ freqs) / np.maximum(mag.sum(axis=1), 1e-20))
        log_mean = np.mean(np.log(power[:, 1:] + 1e-20), axis=1)
        parts["flatness"].append(np.exp(log_mean) / np.maximum(power[:, 1:].mean(axis=1), 1e-20))
        cumulative = np.cumsum(power, axis=1)
        idx = (cumulative < rolloff_fraction * safe_total[:, None]).sum(axis=1)
        parts["rolloff"].append(freqs[np.minimum(idx, freqs.shape[0] - 1)])
        norm = mag / np.maximum(mag.sum(axis=1, keepdims=True), 1e-20)
        first = norm[:1] if prev_mag is None else prev_mag
        diff = np.diff(np.concatenate([first, norm]), axis=0)
        parts["flux"].append(np.sqrt(np.sum(np.maximum(diff, 0.0) ** 2, axis=1)))
        prev_mag = norm[-1:]
        parts["kick"].append(np.sqrt(power[:, kick_bins].sum(axis=1)))
        parts["snare"].append(np.sqrt(power[:, snare_bins].sum(axis=1)))

    cat = {k: np.concatenate(v) for k, v in parts.items()}
    # energy of a full-scale sine under this window is ~(FRAME/4)^2; threshold relative to that
    energy_db = 10.0 * np.log10(cat["energy"] / (FRAME / 4.0) ** 2 + 1e-20)
    return SpectralFrames(cat["centroid"], cat["flatness"], cat["rolloff"], cat["flux"],
                          cat["kick"], cat["snare"], energy_db > _SILENCE_DB)


# --------------------------------------------------------------------------- tempo

@dataclass
class TempoEstimate:
    bpm: float | None
    confidence: float | None
    tracker_bpm: float | None
    method: str
    candidates: list[dict]


def estimate_tempo(mono: np.ndarray, frames: SpectralFrames) -> TempoEstimate:
    """Essentia's beat tracker, then an octave decision among T/2, T, 2T (see module doc)."""
    if mono.shape[0] < 5 * ANALYSIS_SR or not np.any(mono):
        return TempoEstimate(None, 0.0, None, "none", [])
    tracker_bpm, _ticks, confidence, _estimates, _intervals = es.RhythmExtractor2013(
        method="multifeature")(essentia.array(mono))
    confidence = min(1.0, max(0.0, float(confidence) / _CONFIDENCE_MAX))
    if not math.isfinite(tracker_bpm) or tracker_bpm <= 0:
        return TempoEstimate(None, 0.0, None, "none", [])

    kick = _onset_envelope(frames.kick_amp)
    snare = _onset_envelope(frames.snare_amp)
    max_lag = min(int(_XCORR_MAX_LAG_S * FPS), kick.shape[0] - 1)
    xks = _xcorr(kick, snare, max_lag)  # xks[max_lag + l] ~ kick(t) * snare(t + l)
    akk = _xcorr(kick, kick, max_lag)
    candidates = [tracker_bpm * f for f in (0.5, 1.0, 2.0) if MIN_BPM <= tracker_bpm * f <= MAX_BPM]
    scored = [_score_candidate(c, xks, akk, max_lag) for c in candidates or [tracker_bpm]]

    best_backbeat = max(scored, key=lambda s: s["backbeat"])
    if best_backbeat["backbeat"] >= BACKBEAT_MIN:
        chosen, method = best_backbeat, "backbeat"
    else:
        chosen, method = max(scored, key=lambda s: s["score"]), "prior"
    for s in scored:
        s["chosen"] = s is chosen
    return TempoEstimate(chosen["bpm"], confidence, float(tracker_bpm), method, scored)


def _onset_envelope(amp: np.ndarray, ref: int = 3, floor: float = 0.3) -> np.ndarray:
    """Band onset strength: rise above the previous `ref` frames' maximum, minus a running
    median (sustained texture), minus a floor that drops weak onsets (bass notes, ringing)."""
    previous = maximum_filter1d(np.concatenate([amp[:ref], amp[:-ref]]), ref, origin=(ref - 1) // 2)
    rise = np.maximum(0.0, amp - previous)
    rise = np.maximum(0.0, rise - median_filter(rise, size=int(0.5 * FPS), mode="nearest"))
    if not np.any(rise):
        return rise
    return np.maximum(0.0, rise - floor * np.percentile(rise, 99))


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased cross-correlation c[max_lag + l] = mean_t a[t] * b[t + l], |l| <= max_lag."""
    n = a.shape[0]
    full = signal.correlate(b, a, mode="full", method="fft")  # index n-1+l holds lag l
    lags = np.arange(-max_lag, max_lag + 1)
    return full[n - 1 + lags] / (n - np.abs(lags))


def _at_lag(c: np.ndarray, lag_frames: float, max_lag: int) -> float:
    """Largest value within +/-40 ms of a (fractional) lag; 0 outside the computed range.

    The tolerance absorbs the kick envelope's lag behind the true onset (its low band only
    fills once the pitch sweep has come down), which shortens kick->snare and lengthens
    snare->kick intervals by a few tens of ms."""
    i = int(round(lag_frames)) + max_lag
    tol = int(round(_LAG_TOLERANCE_S * FPS))
    lo, hi = max(0, i - tol), min(c.shape[0], i + tol + 1)
    return float(c[lo:hi].max()) if lo < hi else 0.0


def _score_candidate(bpm: float, xks: np.ndarray, akk: np.ndarray, max_lag: int) -> dict:
    beat = 60.0 / bpm * FPS
    ks_peak, kk_zero = float(xks.max()), float(akk[max_lag])
    # kick -> snare one beat later AND snare -> kick one beat later, relative to the best lag
    kick_snare = (min(_at_lag(xks, beat, max_lag), _at_lag(xks, -beat, max_lag)) / ks_peak
                  if ks_peak > 0 else 0.0)
    kick_kick = _at_lag(akk, beat, max_lag) / kk_zero if kk_zero > 0 else 0.0
    backbeat = kick_snare * max(0.0, 1.0 - 2.0 * kick_kick)
    prior = -0.5 * (math.log2(bpm / PRIOR_CENTER_BPM) / PRIOR_SIGMA_OCTAVES) ** 2
    score = prior + PULSE_WEIGHT * max(kick_snare, kick_kick)
    values = {"bpm": bpm, "kick_snare": kick_snare, "kick_kick": kick_kick,
              "backbeat": backbeat, "prior": prior, "score": score}
    return {name: round(float(v), 4) + 0.0 for name, v in values.items()}  # + 0.0: no -0.0


# --------------------------------------------------------------------------- other features

def _key(mono: np.ndarray) -> tuple[str | None, str | None, float | None]:
    if mono.shape[0] < ANALYSIS_SR or not np.any(mono):
        return None, None, None
    key, scale, strength = es.KeyExtractor(profileType="edma")(essentia.array(mono))
    if not key or scale not in ("major", "minor") or not math.isfinite(strength):
        return None, None, None
    return _FLAT_TO_SHARP.get(key, key), scale, min(1.0, max(0.0, float(strength)))


def _loudness(decoded: Decoded) -> tuple[float | None, float | None]:
    """EBU R128 integrated loudness (LUFS) and loudness range (LU) of the stereo signal."""
    if decoded.samples.shape[0] < int(0.5 * decoded.sample_rate):  # shorter than one block
        return None, None
    algo = es.LoudnessEBUR128(sampleRate=float(decoded.sample_rate))
    _momentary, _short_term, integrated, loudness_range = algo(essentia.array(decoded.samples))
    return float(integrated), float(loudness_range)


def _onset_rate(mono: np.ndarray) -> float | None:
    if mono.shape[0] < ANALYSIS_SR:
        return None
    _onsets, rate = es.OnsetRate()(essentia.array(mono))
    return float(rate)


def _dance_and_dynamics(mono: np.ndarray) -> tuple[float | None, float | None]:
    if mono.shape[0] < 2 * ANALYSIS_SR:
        return None, None
    danceability, _dfa = es.Danceability(sampleRate=float(ANALYSIS_SR))(essentia.array(mono))
    complexity, _loud = es.DynamicComplexity(sampleRate=float(ANALYSIS_SR))(essentia.array(mono))
    return float(danceability), float(complexity)


def stereo_image(stereo: np.ndarray) -> tuple[float | None, float | None]:
    """(side / (mid + side) energy ratio in 0..1, left/right Pearson correlation in -1..1)."""
    left = stereo[:, 0].astype(np.float64)
    right = stereo[:, 1].astype(np.float64)
    mid_energy = float(np.sum((left + right) ** 2))
    side_energy = float(np.sum((left - right) ** 2))
    if mid_energy + side_energy <= 1e-12:
        return None, None
    width = side_energy / (mid_energy + side_energy)
    lc, rc = left - left.mean(), right - right.mean()
    denom = math.sqrt(float(np.sum(lc * lc)) * float(np.sum(rc * rc)))
    corr = float(np.sum(lc * rc) / denom) if denom > 1e-12 else 1.0
    return width, max(-1.0, min(1.0, corr))


def zero_crossing_rate(mono: np.ndarray) -> float | None:
    """Fraction of consecutive sample pairs whose sign differs."""
    if mono.shape[0] < 2:
        return None
    return float(np.mean(np.signbit(mono[1:]) != np.signbit(mono[:-1])))


def _num(value: float | None) -> float | None:
    """A plain, finite Python float, or None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
