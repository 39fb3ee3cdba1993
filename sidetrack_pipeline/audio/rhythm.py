"""Tempo: a periodicity estimate from the onset novelty, then a metrical-level (octave) decision.

Periodicity. The onset novelty (mel log-power flux, ~86 frames/s) of four frequency regions -
kick/bass, low mids, presence, hats (`spectral.novelty_bands`) - minus its 1 s running mean is
autocorrelated over the whole signal per region, and the normalised autocorrelations are
averaged, so every region votes equally: a hi-hat playing every subdivision cannot drown the
kick and snare accents that carry the beat. Every candidate tempo b between MIN_BPM and MAX_BPM
(0.1 % grid) is scored by the mean autocorrelation at 1, 2, 3 and 4 beat periods - a beat is
only supported when its multiples are too, which rules out the 2:3 and 3:4 confusions of
single-lag peaks. The winner is refined on the autocorrelation peaks near 2, 4, 8, 16... beat
periods (each located to a fraction of a frame by parabolic interpolation), so the final period
is measured over many beats: sub-0.1 % precision on steady loops.

No beat: below MIN_SECONDS of audio, MIN_ONSETS detected onsets or MIN_CONFIDENCE pulse clarity
(steady tones, noise, silence) the tempo is None.

Octave. Periodicity finds the pulse but not reliably its metrical level, so the candidates T/2,
T and 2T are re-scored from the drums themselves:

* backbeat: in backbeat styles (hip-hop, downtempo, rock, drum & bass) the beat period is the
  distance between a kick and the following snare and between that snare and the next kick,
  while kicks do *not* repeat at that period. Measured by cross-correlating a kick onset
  envelope (30-120 Hz) with a snare onset envelope (1.5-6 kHz) at +/- one beat, and the kick
  autocorrelation at one beat. A clear backbeat decides on its own - unless it shows at two
  levels (double-time drumming), which leaves the decision to the prior.
* otherwise (four-on-the-floor, or no drums): a log-normal tempo prior centred on 120 BPM plus
  a small bonus for pulse evidence (kick or kick-snare periodicity at the beat).

`confidence` is the pulse clarity: the mean normalised autocorrelation at 1-4 periods (0 for
noise or beatless audio, ~0.3-0.9 for steady drum loops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy import signal
from scipy.ndimage import maximum_filter1d, median_filter, uniform_filter1d

MIN_BPM, MAX_BPM = 50.0, 200.0
MIN_SECONDS = 5.0
MIN_ONSETS = 8
MIN_CONFIDENCE = 0.05
GRID_STEP = 0.001  # relative BPM step of the periodicity search
HARMONICS = (1, 2, 3, 4)
REFINE_MAX_LAG_S = 12.0
PRIOR_CENTER_BPM = 120.0
PRIOR_SIGMA_OCTAVES = 0.7
PULSE_WEIGHT = 0.5
BACKBEAT_MIN = 0.4
_XCORR_MAX_LAG_S = 3.0
_LAG_TOLERANCE_S = 0.04


@dataclass
class TempoEstimate:
    bpm: float | None
    confidence: float | None
    periodicity_bpm: float | None
    method: str
    candidates: list[dict]


def estimate_tempo(bands: np.ndarray, kick_amp: np.ndarray, snare_amp: np.ndarray,
                   fps: float, n_onsets: int | None = None) -> TempoEstimate:
    """Tempo of one signal from its band-wise onset novelty (bands, frames) and kick/snare band
    amplitudes (all at fps). None (no beat) below MIN_SECONDS, below MIN_ONSETS detected onsets
    (when `n_onsets` is given) or below MIN_CONFIDENCE pulse clarity."""
    n = bands.shape[1]
    if (n < MIN_SECONDS * fps or not np.any(bands > 0)
            or (n_onsets is not None and n_onsets < MIN_ONSETS)):
        return TempoEstimate(None, 0.0, None, "none", [])
    max_lag = min(n - 1, int(math.ceil(REFINE_MAX_LAG_S * fps)) + 4)
    ac = _band_autocorrelation(bands, fps, max_lag)
    if ac is None:
        return TempoEstimate(None, 0.0, None, "none", [])
    period, salience = _best_period(ac, fps)
    if period is None or salience < MIN_CONFIDENCE:
        return TempoEstimate(None, max(0.0, salience), None, "none", [])
    period = _refine_period(ac, period, min(ac.shape[0] - 3, 0.5 * n))
    periodicity_bpm = 60.0 * fps / period
    confidence = min(1.0, max(0.0, salience))

    kick = _onset_envelope(kick_amp, fps)
    snare = _onset_envelope(snare_amp, fps)
    max_lag = min(int(_XCORR_MAX_LAG_S * fps), kick.shape[0] - 1)
    xks = _xcorr(kick, snare, max_lag)  # xks[max_lag + l] ~ kick(t) * snare(t + l)
    akk = _xcorr(kick, kick, max_lag)
    factors = [f for f in (0.5, 1.0, 2.0) if MIN_BPM <= periodicity_bpm * f <= MAX_BPM] or [1.0]
    scored = [_score_candidate(periodicity_bpm * f, xks, akk, max_lag, fps) for f in factors]
    backbeats = [s for s in scored if s["backbeat"] >= BACKBEAT_MIN]
    if len(backbeats) == 1:
        chosen, method = backbeats[0], "backbeat"
    else:  # no backbeat, or one at two levels (double-time drumming): it cannot decide
        chosen, method = max(scored, key=lambda s: s["score"]), "prior"
    for s in scored:
        s["chosen"] = s is chosen
    bpm = periodicity_bpm * factors[scored.index(chosen)]
    return TempoEstimate(float(bpm), confidence, float(periodicity_bpm), method, scored)


# --------------------------------------------------------------------------- periodicity

def _band_autocorrelation(bands: np.ndarray, fps: float, max_lag: int) -> np.ndarray | None:
    """Mean of the normalised autocorrelations of each band's novelty (minus its 1 s running
    mean): every region votes equally, so the kick's and snare's accents are not drowned by
    a hi-hat that plays every subdivision (Scheirer 1998, Klapuri et al. 2006)."""
    acs = []
    for nov in bands:
        if not np.any(nov > 0):
            continue
        ac = _autocorrelation(nov - uniform_filter1d(nov, size=int(round(fps)), mode="nearest"),
                              max_lag)
        if ac is not None:
            acs.append(ac)
    return np.mean(acs, axis=0) if acs else None


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray | None:
    """Unbiased autocorrelation normalised to 1 at lag 0, lags 0..max_lag."""
    n = x.shape[0]
    size = sfft.next_fast_len(2 * n)
    spec = sfft.rfft(x, size, workers=1)
    ac = sfft.irfft(spec.real ** 2 + spec.imag ** 2, size, workers=1)[: max_lag + 1]
    ac /= n - np.arange(max_lag + 1)
    if ac[0] <= 1e-20:
        return None
    return ac / ac[0]


def _best_period(ac: np.ndarray, fps: float) -> tuple[float | None, float]:
    """(period in frames of the best-supported tempo in MIN..MAX_BPM, its salience)."""
    tolerant = maximum_filter1d(ac, 3)  # onsets smear peaks over about a frame
    n_grid = int(math.log(MAX_BPM / MIN_BPM) / math.log1p(GRID_STEP)) + 1
    bpms = MIN_BPM * (1.0 + GRID_STEP) ** np.arange(n_grid)
    periods = 60.0 * fps / bpms
    lags = np.arange(ac.shape[0])
    salience = np.zeros(n_grid)
    valid = np.ones(n_grid, dtype=bool)
    for k in HARMONICS:
        lag = k * periods
        valid &= lag <= lags[-1]
        salience += np.interp(lag, lags, tolerant)
    salience /= len(HARMONICS)
    if not np.any(valid):
        return None, 0.0
    salience[~valid] = -np.inf
    best = int(np.argmax(salience))
    return float(periods[best]), float(salience[best])


def _refine_period(ac: np.ndarray, period: float, max_lag: float) -> float:
    """Re-measure `period` on the autocorrelation peaks near 2, 4, 8, ... periods."""
    m = 1
    while True:
        nxt = m * 2
        target = nxt * period
        if target + 3 > max_lag:
            return period
        lo, hi = int(math.floor(target - 2)), int(math.ceil(target + 2))
        i = lo + int(np.argmax(ac[lo:hi + 1]))
        if i <= 0 or i >= ac.shape[0] - 1 or i in (lo, hi):
            return period  # no peak inside the window: the pulse drifts, keep what we have
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        denom = a - 2.0 * b + c
        offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
        period = (i + offset) / nxt
        m = nxt


# --------------------------------------------------------------------------- octave decision

def _onset_envelope(amp: np.ndarray, fps: float, ref: int = 3, floor: float = 0.3) -> np.ndarray:
    """Band onset strength: rise above the previous `ref` frames' maximum, minus a running
    median (sustained texture), minus a floor that drops weak onsets (bass notes, ringing)."""
    previous = maximum_filter1d(np.concatenate([amp[:ref], amp[:-ref]]), ref, origin=(ref - 1) // 2)
    rise = np.maximum(0.0, amp - previous)
    rise = np.maximum(0.0, rise - median_filter(rise, size=int(0.5 * fps), mode="nearest"))
    if not np.any(rise):
        return rise
    return np.maximum(0.0, rise - floor * np.percentile(rise, 99))


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased cross-correlation c[max_lag + l] = mean_t a[t] * b[t + l], |l| <= max_lag."""
    n = a.shape[0]
    full = signal.correlate(b, a, mode="full", method="fft")  # index n-1+l holds lag l
    lags = np.arange(-max_lag, max_lag + 1)
    return full[n - 1 + lags] / (n - np.abs(lags))


def _at_lag(c: np.ndarray, lag_frames: float, max_lag: int, fps: float) -> float:
    """Largest value within +/-40 ms of a (fractional) lag; 0 outside the computed range.

    The tolerance absorbs the kick envelope's lag behind the true onset (its low band only
    fills once the pitch sweep has come down), which shortens kick->snare and lengthens
    snare->kick intervals by a few tens of ms."""
    i = int(round(lag_frames)) + max_lag
    tol = int(round(_LAG_TOLERANCE_S * fps))
    lo, hi = max(0, i - tol), min(c.shape[0], i + tol + 1)
    return float(c[lo:hi].max()) if lo < hi else 0.0


def _score_candidate(bpm: float, xks: np.ndarray, akk: np.ndarray, max_lag: int,
                     fps: float) -> dict:
    beat = 60.0 / bpm * fps
    ks_peak, kk_zero = float(xks.max()), float(akk[max_lag])
    # kick -> snare one beat later AND snare -> kick one beat later, relative to the best lag
    kick_snare = (min(_at_lag(xks, beat, max_lag, fps), _at_lag(xks, -beat, max_lag, fps))
                  / ks_peak if ks_peak > 0 else 0.0)
    kick_kick = _at_lag(akk, beat, max_lag, fps) / kk_zero if kk_zero > 0 else 0.0
    backbeat = kick_snare * max(0.0, 1.0 - 2.0 * kick_kick)
    prior = -0.5 * (math.log2(bpm / PRIOR_CENTER_BPM) / PRIOR_SIGMA_OCTAVES) ** 2
    score = prior + PULSE_WEIGHT * max(kick_snare, kick_kick)
    values = {"bpm": bpm, "kick_snare": kick_snare, "kick_kick": kick_kick,
              "backbeat": backbeat, "prior": prior, "score": score}
    return {name: round(float(v), 4) + 0.0 for name, v in values.items()}  # + 0.0: no -0.0
