"""musicnn's input representation, reimplemented in numpy (no librosa at run time).

The original (``musicnn/extractor.py::batch_data``) computes

    audio, sr = librosa.load(file, sr=16000)
    S = librosa.feature.melspectrogram(y=audio, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    S = np.log10(10000 * S.astype(np.float16) + 1)

and cuts S into patches of 187 frames (3 s) with a hop of 187 frames (no overlap), dropping the
incomplete last patch. librosa's defaults of the time (0.6/0.7, 2019): periodic Hann window,
centred frames with *reflect* padding (librosa >= 0.10 pads with zeros by default; only the first
and last frame differ), power 2, Slaney mel scale with Slaney ("area") normalisation, fmin 0,
fmax sr/2, float32 throughout. The float16 cast rounds the mel power (the training data were
stored that way too); the logarithm is then taken in float32, which is what NumPy 1.x (2019,
and the training code) does for ``10000 * float16_array``. Under NumPy 2 (NEP 50) that product
stays float16 and overflows to inf for mel powers above ~6.55 -- most frames of ordinary music
with a bass line -- so running the original extractor with NumPy 2 gives constant, meaningless
tags; this module deliberately follows the NumPy 1 semantics.

Resampling is not part of this module: `embed_file` resamples with polyphase filtering
(scipy.signal.resample_poly, see `sidetrack_pipeline.audio.decode.resample`) where the original's
``librosa.load`` used resampy's kaiser_best (2019) or soxr_hq (librosa >= 0.10). These differ only
in the stop-band of the anti-aliasing filter.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
_STFT_CHUNK_FRAMES = 4096  # bounds the memory of the framed signal for long tracks


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz,
                    min_log_mel + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep,
                    hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 filters, as ``librosa.filters.mel(sr, n_fft, n_mels)``."""
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]  # Slaney: constant energy per band
    weights.flags.writeable = False
    return weights.astype(np.float32)


def mel_power(y: np.ndarray) -> np.ndarray:
    """(frames, 96) float32 mel power spectrogram of a 16 kHz mono signal (librosa defaults)."""
    y = np.asarray(y, dtype=np.float32)  # float32 like librosa.load; float64 only per chunk
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal, got shape {y.shape}")
    pad = N_FFT // 2
    if y.size <= pad:  # reflect padding needs more samples than the pad width
        y = np.pad(y, (0, pad + 1 - y.size))
    padded = np.pad(y, pad, mode="reflect")
    n_frames = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    basis = mel_filterbank().astype(np.float64)
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    for start in range(0, n_frames, _STFT_CHUNK_FRAMES):
        chunk = frames[start:start + _STFT_CHUNK_FRAMES].astype(np.float64) * window
        spec = np.fft.rfft(chunk, n=N_FFT, axis=1)
        # librosa keeps the spectrum in float32 (complex64) before squaring the magnitude
        power = np.abs(spec.astype(np.complex64)).astype(np.float64) ** 2
        out[start:start + chunk.shape[0]] = power @ basis.T
    return out


def log_compress(mel: np.ndarray) -> np.ndarray:
    """``log10(10000 * x + 1)`` of the float16-rounded mel power, in float32 (NumPy 1 semantics).

    The power is clipped to float16's range first (only reachable with samples far outside
    [-1, 1]), so the result is always finite.
    """
    half = np.minimum(np.asarray(mel, dtype=np.float32), np.finfo(np.float16).max)
    x = half.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * x + np.float32(1))


def log_mel(y: np.ndarray) -> np.ndarray:
    """(frames, 96) float32 log-compressed mel spectrogram: musicnn's input, before patching."""
    return log_compress(mel_power(y))


def make_patches(spec: np.ndarray, patch_frames: int = PATCH_FRAMES,
                 hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """(n_patches, patch_frames, n_mels) patches as the original's `batch_data` cuts them.

    The incomplete tail is dropped, as in the original. A spectrogram shorter than one patch
    (audio under 3 s, where the original extractor crashes) is repeated until it fills one
    patch: the "repeat-pad" the models were trained with for short clips.
    """
    spec = np.asarray(spec, dtype=np.float32)
    if spec.ndim != 2 or spec.shape[0] == 0:
        raise ValueError(f"expected a non-empty (frames, mels) spectrogram, got {spec.shape}")
    if spec.shape[0] < patch_frames:
        reps = -(-patch_frames // spec.shape[0])
        spec = np.tile(spec, (reps, 1))[:patch_frames]
    starts = range(0, spec.shape[0] - patch_frames + 1, hop_frames)
    return np.stack([spec[s:s + patch_frames] for s in starts])
