"""Per-track audio features ("mir-2"): tempo, key, loudness, timbre, chroma, stereo, pumping.

`analyze_file(path)` decodes a file and `analyze_signal(decoded)` returns one flat dict (keys:
`FEATURE_KEYS`) whose values map onto the `features` table columns (`DB_COLUMNS`); `extra` is the
jsonb column of secondary descriptors (`EXTRA_KEYS`), and `sample_rate` / `channels` describe the
source file. Values are plain Python floats/ints/strings/bools and lists of floats; anything that
cannot be computed is None, never NaN. Results are deterministic for a given input.

One pass per analysis rate, each result shared by every feature that needs it:

=========================  ========================================================================
native rate, stereo        EBU R128 loudness + range, DR, crest factor, peak, stereo image;
                           dynamic complexity (Essentia) on the mid signal; the side signal
                           (-> 11.025 kHz) for pumpiness
22.05 kHz mid, one STFT    spectral centroid/rolloff/flatness/flux + ZCR (mean and std); a 64-band
(1024 / hop 256)           mel spectrogram -> 13 MFCC (mean, variance), onset novelty (tempo,
                           onset rate), HPSS; kick/snare bands (tempo octave); danceability
                           (Essentia DFA) on the signal
11.025 kHz mid             whitened HPCP (1024-sample frames) -> key (EDMA + chord evidence;
                           krumhansl / temperley / bgate alternatives), chroma; pumpiness
=========================  ========================================================================

Speed (benchmarks/RESULTS.md): ~0.12 CPU-s per 30 s track including decoding, ~250x real time
on one core, ~6x faster than Essentia's MusicExtractor; memory stays bounded on long files
(chunked STFTs and filters).

See `spectral`, `rhythm`, `tonal`, `dynamics`, `stereo` and `pumpiness` for the definitions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sidetrack_pipeline.audio import dynamics, rhythm, spectral, tonal
from sidetrack_pipeline.audio.decode import Decoded, load_audio
from sidetrack_pipeline.audio.pumpiness import pumpiness
from sidetrack_pipeline.audio.stereo import stereo_image

ANALYZER_VERSION = "mir-2"

DB_COLUMNS = (
    "duration_s", "bpm", "bpm_confidence", "key", "mode", "key_confidence", "loudness_lufs",
    "loudness_range_lu", "spectral_centroid_hz", "onset_rate", "stereo_width", "lr_correlation",
    "pumpiness", "danceability", "dynamic_complexity",
)
FEATURE_KEYS = DB_COLUMNS + ("analyzer_version", "sample_rate", "channels", "extra")
EXTRA_KEYS = (
    # spectral shape (means; the centroid mean is a column) and spreads, 22.05 kHz
    "spectral_centroid_hz_std", "spectral_rolloff_hz", "spectral_rolloff_hz_std",
    "spectral_flatness", "spectral_flatness_std", "spectral_flux", "spectral_flux_std",
    "zcr", "zcr_std",
    # timbre and tonality
    "mfcc_mean", "mfcc_var", "chroma_mean", "chroma_std", "key_profile", "key_alternatives",
    "tuning_cents",
    # percussive / harmonic
    "percussive_harmonic_ratio", "percussive_fraction",
    # loudness and dynamics
    "dynamic_range_db", "crest_factor_db", "peak_dbfs",
    # stereo
    "side_mid_ratio",
    # rhythm
    "onset_count", "bpm_candidates", "bpm_method", "bpm_tracker",
    # pumping
    "pumpiness_corr",
    # excerpt bookkeeping
    "excerpt_offset_s", "excerpt_s",
)
TONAL_SR = tonal.SR


# --------------------------------------------------------------------------- entry points

def analyze_file(path: str | Path, excerpt_seconds: float = 0.0) -> dict:
    """Decode `path` (optionally a centred excerpt) and analyse it; raises AudioDecodeError."""
    return analyze_signal(load_audio(path, excerpt_seconds))


def analyze_signal(decoded: Decoded) -> dict:
    """All features of one decoded signal as a flat, JSON-serialisable dict."""
    sr = int(decoded.sample_rate)
    stereo = decoded.samples
    left, right = stereo[:, 0], stereo[:, 1]
    # native-rate mid/side are only needed briefly: resample, use, drop (memory on long files)
    side = (left - right) * np.float32(0.5)
    side11 = spectral.resample(side, sr, TONAL_SR, taps_per_phase=8) if np.any(side) else None
    del side
    native_mono = (left + right) * np.float32(0.5)  # float32 mid, no float64 round trip
    dyn_complexity = dynamics.dynamic_complexity(native_mono, sr)
    mono22 = spectral.resample(native_mono, sr, spectral.SR)
    del native_mono
    mono11 = spectral.resample(mono22, spectral.SR, TONAL_SR)
    seconds = mono22.shape[0] / spectral.SR

    spec = spectral.compute(mono22)
    stats = spectral.descriptor_stats(spec)
    mfcc_mean, mfcc_var = spectral.mfcc_stats(spec)
    e_harm, e_perc = spectral.hpss_energies(spec)
    bands = spectral.novelty_bands(spec)
    onsets = spectral.onset_times(spectral.novelty(spec, bands))
    tempo = rhythm.estimate_tempo(bands, spec.kick_amp, spec.snare_amp, spectral.FPS,
                                  n_onsets=int(onsets.shape[0]))
    danceability = dynamics.danceability(mono22, spectral.SR)
    del spec, mono22

    tonality = tonal.analyse(mono11, at_start=decoded.offset_s == 0.0)
    pump_score, pump_raw = pumpiness(mono11, TONAL_SR, side=side11)
    loudness, loudness_range = dynamics.ebu_r128(stereo, sr)
    peak_db, crest_db = dynamics.peak_and_crest(stereo)
    image = stereo_image(stereo)

    extra = {
        "spectral_centroid_hz_std": _num(stats["spectral_centroid_hz_std"]),
        "spectral_rolloff_hz": _num(stats["spectral_rolloff_hz"]),
        "spectral_rolloff_hz_std": _num(stats["spectral_rolloff_hz_std"]),
        "spectral_flatness": _num(stats["spectral_flatness"]),
        "spectral_flatness_std": _num(stats["spectral_flatness_std"]),
        "spectral_flux": _num(stats["spectral_flux"]),
        "spectral_flux_std": _num(stats["spectral_flux_std"]),
        "zcr": _num(stats["zcr"]),
        "zcr_std": _num(stats["zcr_std"]),
        "mfcc_mean": _nums(mfcc_mean),
        "mfcc_var": _nums(mfcc_var),
        "chroma_mean": _nums(tonality["chroma_mean"]),
        "chroma_std": _nums(tonality["chroma_std"]),
        "key_profile": tonal.DEFAULT_PROFILE,
        "key_alternatives": {
            profile: {"key": v["key"], "scale": v["scale"], "strength": _num(v["strength"])}
            for profile, v in tonality["key_alternatives"].items()},
        "tuning_cents": _num(tonality["tuning_cents"]),
        "percussive_harmonic_ratio": _num(e_perc / e_harm) if e_harm > 0 else None,
        "percussive_fraction": (_num(e_perc / (e_perc + e_harm)) if e_perc + e_harm > 0
                                else None),
        "dynamic_range_db": _num(dynamics.dynamic_range(stereo, sr)),
        "crest_factor_db": _num(crest_db),
        "peak_dbfs": _num(peak_db),
        "side_mid_ratio": _num(image["side_mid_ratio"]),
        "onset_count": int(onsets.shape[0]),
        "bpm_candidates": tempo.candidates,
        "bpm_method": tempo.method,
        "bpm_tracker": _num(tempo.periodicity_bpm),
        "pumpiness_corr": _num(pump_raw),
        "excerpt_offset_s": _num(decoded.offset_s),
        "excerpt_s": _num(decoded.excerpt_s),
    }
    return {
        "duration_s": _num(decoded.duration_s),
        "bpm": _num(tempo.bpm),
        "bpm_confidence": _num(tempo.confidence),
        "key": tonality["key"],
        "mode": tonality["mode"],
        "key_confidence": _num(tonality["key_strength"]),
        "loudness_lufs": _num(loudness),
        "loudness_range_lu": _num(loudness_range),
        "spectral_centroid_hz": _num(stats["spectral_centroid_hz"]),
        "onset_rate": _num(onsets.shape[0] / seconds) if seconds >= 1.0 else None,
        "stereo_width": _num(image["stereo_width"]),
        "lr_correlation": _num(image["lr_correlation"]),
        "pumpiness": _num(pump_score),
        "danceability": _num(danceability),
        "dynamic_complexity": _num(dyn_complexity),
        "analyzer_version": ANALYZER_VERSION,
        "sample_rate": sr,
        "channels": int(decoded.channels),
        "extra": extra,
    }


def _num(value: float | None) -> float | None:
    """A plain, finite Python float, or None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _nums(values: list[float] | None) -> list[float] | None:
    if values is None:
        return None
    out = [_num(v) for v in values]
    return None if any(v is None for v in out) else out
