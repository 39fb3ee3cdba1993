"""Decoding audio files into numpy arrays.

libsndfile (via `soundfile`) handles WAV/FLAC/OGG/Opus/MP3; anything it cannot open is handed to
the `ffmpeg` binary when one is on PATH. Essentia's own loaders are deliberately not used: they
crash the whole process on some Opus files, which would take a worker pool down with them.

Every failure (missing, empty, truncated or non-audio file) surfaces as `AudioDecodeError`, which
carries the path and a one-line reason suitable for the `analysis_error` table.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

ANALYSIS_SR = 44100  # the rate Essentia's algorithms assume by default
_FFMPEG_FALLBACK_SR = 44100  # when ffprobe cannot tell the native rate
_FFMPEG_TIMEOUT_S = 600


class AudioDecodeError(Exception):
    """A file could not be decoded into audio."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode {self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) when crossing a process-pool boundary
        return (type(self), (self.path, self.reason))


@dataclass
class Decoded:
    """Decoded audio: always stereo float32 (mono sources are duplicated to both channels).

    `duration_s` is the duration of the whole file; `samples` may hold only a centred excerpt
    starting at `offset_s`.
    """

    samples: np.ndarray  # (n, 2) float32
    sample_rate: int
    channels: int  # channel count of the source file
    duration_s: float
    offset_s: float = 0.0
    _mono_cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def excerpt_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate

    @property
    def mono(self) -> np.ndarray:
        """Mid (L+R)/2 at the native sample rate, float32, computed once."""
        if self.sample_rate not in self._mono_cache:
            self._mono_cache[self.sample_rate] = np.ascontiguousarray(
                self.samples.mean(axis=1, dtype=np.float64), dtype=np.float32)
        return self._mono_cache[self.sample_rate]

    def mono_at(self, sample_rate: int = ANALYSIS_SR) -> np.ndarray:
        """Mono resampled to `sample_rate` (float32, contiguous), computed once per rate."""
        if sample_rate not in self._mono_cache:
            self._mono_cache[sample_rate] = resample(self.mono, self.sample_rate, sample_rate)
        return self._mono_cache[sample_rate]

    def stereo_at(self, sample_rate: int = ANALYSIS_SR) -> np.ndarray:
        """Both channels resampled to `sample_rate` (not cached: needed once, for loudness)."""
        if sample_rate == self.sample_rate:
            return self.samples
        return np.stack([resample(self.samples[:, c], self.sample_rate, sample_rate)
                         for c in range(2)], axis=1)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling to float32 (identity when the rates match)."""
    if sr_in == sr_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    g = math.gcd(int(sr_in), int(sr_out))
    y = signal.resample_poly(x.astype(np.float64), sr_out // g, sr_in // g)
    return np.ascontiguousarray(y, dtype=np.float32)


def load_audio(path: str | Path, excerpt_seconds: float = 0.0) -> Decoded:
    """Decode `path` to stereo float32; with `excerpt_seconds` > 0 only a centred excerpt."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")
    try:
        decoded = _load_soundfile(path, excerpt_seconds)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        if shutil.which("ffmpeg") is None:
            raise AudioDecodeError(path, f"not readable as audio ({_first_line(exc)})") from exc
        decoded = _load_ffmpeg(path, excerpt_seconds, sndfile_reason=_first_line(exc))
    _check_samples(path, decoded.samples)
    return decoded


def _load_soundfile(path: Path, excerpt_seconds: float) -> Decoded:
    with sf.SoundFile(str(path)) as f:
        sr, channels, total = f.samplerate, f.channels, f.frames
        if total <= 0 or sr <= 0:
            raise AudioDecodeError(path, "no audio frames in file")
        start, count = _excerpt_window(total, sr, excerpt_seconds)
        if start:
            f.seek(start)
        data = f.read(count, dtype="float32", always_2d=True)
    missing = count - data.shape[0]
    # frame counts of some compressed formats (VBR MP3) are estimates: allow a small shortfall
    if missing > 0.02 * count + 0.5 * sr:
        raise AudioDecodeError(
            path, f"truncated: header promises {count} frames from {start}, got {data.shape[0]}")
    if data.shape[0] == 0:
        raise AudioDecodeError(path, "no audio frames decoded")
    return Decoded(_to_stereo(data), sr, channels, (total - max(0, missing)) / sr, start / sr)


def _load_ffmpeg(path: Path, excerpt_seconds: float, sndfile_reason: str) -> Decoded:
    duration = _ffprobe_float(path, "format=duration")
    channels = _ffprobe_float(path, "stream=channels")
    sr = int(_ffprobe_float(path, "stream=sample_rate") or _FFMPEG_FALLBACK_SR)
    cmd = ["ffmpeg", "-nostdin", "-v", "error"]
    offset = 0.0
    if excerpt_seconds > 0 and duration and duration > excerpt_seconds:
        offset = (duration - excerpt_seconds) / 2.0
        cmd += ["-ss", f"{offset:.3f}", "-t", f"{excerpt_seconds:.3f}"]
    cmd += ["-i", str(path), "-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "2",
            "-ar", str(sr), "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError(path, f"ffmpeg timed out after {_FFMPEG_TIMEOUT_S} s") from exc
    raw = proc.stdout
    if proc.returncode != 0 or len(raw) < 8:
        reason = _first_line(proc.stderr.decode(errors="replace")) or f"exit {proc.returncode}"
        raise AudioDecodeError(path, f"not readable as audio ({sndfile_reason}; ffmpeg: {reason})")
    data = np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<f4").reshape(-1, 2).copy()
    got_s = data.shape[0] / sr
    expected_s = min(duration, excerpt_seconds) if excerpt_seconds > 0 and duration else duration
    if expected_s and got_s < 0.95 * expected_s - 0.5:
        raise AudioDecodeError(
            path, f"truncated: expected {expected_s:.1f} s, decoded {got_s:.1f} s")
    return Decoded(data, sr, int(channels or 2), duration or got_s, offset)


def _ffprobe(path: Path, entry: str) -> str | None:
    if shutil.which("ffprobe") is None:
        return None
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", entry,
         "-of", "default=noprint_wrappers=1:nokey=1", str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in proc.stdout.split() if line and line != "N/A"]
    return lines[0] if proc.returncode == 0 and lines else None


def _ffprobe_float(path: Path, entry: str) -> float | None:
    value = _ffprobe(path, entry)
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number and math.isfinite(number) and number > 0 else None


def _excerpt_window(total: int, sr: int, excerpt_seconds: float) -> tuple[int, int]:
    """(start frame, frame count) of a centred excerpt, or the whole file."""
    wanted = int(round(excerpt_seconds * sr))
    if excerpt_seconds <= 0 or wanted >= total:
        return 0, total
    return (total - wanted) // 2, wanted


def _to_stereo(data: np.ndarray) -> np.ndarray:
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    elif data.shape[1] > 2:  # keep front left/right of surround files
        data = data[:, :2]
    return np.ascontiguousarray(data, dtype=np.float32)


def _check_samples(path: Path, samples: np.ndarray) -> None:
    if samples.shape[0] == 0:
        raise AudioDecodeError(path, "no audio frames decoded")
    if not np.isfinite(samples).all():
        raise AudioDecodeError(path, "decoded samples contain NaN or infinity")


def _first_line(exc_or_text: object) -> str:
    """First line of an error, without ffmpeg's '[flac @ 0x55d0...]' context prefix."""
    text = str(exc_or_text).strip()
    line = text.splitlines()[0] if text else ""
    return re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", line)
