"""Decoding audio files into numpy arrays.

Which decoder reads a file depends on what the file is, not on its name:

* libsndfile (via `soundfile`) for WAV, AIFF, FLAC, Ogg Vorbis, Opus, CAF, W64…: exact frame
  counts, sample-exact seeking, no subprocess.
* the `ffmpeg` binary for MP3, AAC/M4A, ALAC, WMA and anything libsndfile cannot open.
  MP3 goes to ffmpeg although libsndfile >= 1.1 reads it: libsndfile trusts mpg123's length
  estimate and stops reading there, so a 20 s VBR MP3 without a Xing header decoded as 4 s with
  no error (soundfile 0.14 / libsndfile 1.2.2). Without ffmpeg, libsndfile reads MP3 anyway.
* files with more than two channels also go to ffmpeg when it is there: it knows their channel
  layout (WAVE_FORMAT_EXTENSIBLE masks, the Vorbis channel order), see `downmix_matrix`.

Essentia's loaders are never used: they crash the whole process on some Opus files.

Output is always stereo float32 at the file's own sample rate; mono sources are duplicated to
both channels (`channels` still says 1). Only a centred window is decoded when an excerpt is
requested or the file is longer than MAX_ANALYSIS_SECONDS (see `guard.window_seconds`): both
decoders seek to it, so a 3-hour file never has to fit in memory.

Every failure (missing, empty, truncated, corrupt or non-audio file) surfaces as
`AudioDecodeError`, which carries the path and a one-line reason for the `analysis_error` table.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from sidetrack_pipeline.audio.guard import max_analysis_seconds, window_seconds

ANALYSIS_SR = 44100  # the rate Essentia's algorithms assume by default
_FFMPEG_FALLBACK_SR = 44100  # when ffprobe cannot tell the native rate
_FFMPEG_TIMEOUT_S = 600
_FFPROBE_TIMEOUT_S = 60
_BLOCK_FRAMES = 1 << 16  # libsndfile reads go block by block: bounded scratch memory
_TRUNCATION_TOLERANCE_S = 0.1  # shortfalls below this are rounding, not a cut-off file
_SURROUND = 1.0 / math.sqrt(2.0)  # -3 dB


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
    starting at `offset_s` (its length is `excerpt_s`).
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


# --------------------------------------------------------------------------- entry point

def load_audio(path: str | Path, excerpt_seconds: float = 0.0,
               max_seconds: float | None = None) -> Decoded:
    """Decode `path` to stereo float32.

    `excerpt_seconds` > 0 decodes only a centred excerpt of that length. Independently, files
    longer than `max_seconds` (default: MAX_ANALYSIS_SECONDS, 0 = no cap) are cut to a centred
    window of that length. Raises AudioDecodeError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        reason = "not a regular file" if path.exists() else "file not found"
        raise AudioDecodeError(path, reason)
    if path.stat().st_size == 0:
        raise AudioDecodeError(path, "empty file (0 bytes)")
    cap = max_analysis_seconds() if max_seconds is None else max_seconds
    decoded = _decode(path, excerpt_seconds, cap)
    _check_samples(path, decoded.samples)
    return decoded


def _decode(path: Path, excerpt_seconds: float, max_seconds: float) -> Decoded:
    """Pick the decoder (see the module docstring) and fall back to ffmpeg when libsndfile
    opens a file but fails part-way: ffmpeg skips a damaged frame instead of giving up."""
    has_ffmpeg = shutil.which("ffmpeg") is not None
    if has_ffmpeg and _looks_like_mp3(path):
        # straight to ffmpeg: libsndfile's MP3 length is a guess, and mpg123 would spray
        # resync notes over stderr for every junk file named .mp3
        return _load_ffmpeg(path, excerpt_seconds, max_seconds, "")
    info, sf_reason = _soundfile_info(path)
    if info is not None:
        _check_declared_length(path, info)
    if info is None or (has_ffmpeg and (info.format == "MP3" or info.channels > 2)):
        if not has_ffmpeg:
            raise AudioDecodeError(path, _unreadable(path, sf_reason, "ffmpeg is not installed"))
        return _load_ffmpeg(path, excerpt_seconds, max_seconds, "" if info else sf_reason)
    try:
        return _load_soundfile(path, info, excerpt_seconds, max_seconds)
    except (sf.SoundFileError, RuntimeError) as exc:
        reason = f"libsndfile: {_first_line(exc)}"
        if not has_ffmpeg:
            raise AudioDecodeError(path, f"corrupt or truncated {info.format} ({reason})") from exc
        return _load_ffmpeg(path, excerpt_seconds, max_seconds, reason, read_failure=reason)


_MP3_SUFFIXES = {".mp3", ".mp2", ".mpga"}


def _looks_like_mp3(path: Path) -> bool:
    """An .mp3 name, an ID3v2 tag or an MPEG audio frame sync at the start."""
    if path.suffix.lower() in _MP3_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(3)
    except OSError:
        return False
    return head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF
                                       and head[1] & 0xE0 == 0xE0)


# --------------------------------------------------------------------------- libsndfile

@dataclass(frozen=True)
class _SfInfo:
    format: str  # libsndfile major format: WAV, FLAC, OGG, MP3, AIFF…
    sample_rate: int
    channels: int
    frames: int


def _soundfile_info(path: Path) -> tuple[_SfInfo | None, str]:
    """What libsndfile makes of the file, or (None, why it could not open it)."""
    try:
        with sf.SoundFile(str(path)) as f:
            return _SfInfo(f.format, int(f.samplerate), int(f.channels), int(f.frames)), ""
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        reason = _first_line(exc)
        # libsndfile says this for any unrecognised file that mpg123 gave up on; it exists
        if "does not exist or is not a regular file" in reason:
            reason = "format not recognised"
        return None, f"libsndfile: {reason.removeprefix(f'Error opening {str(path)!r}: ')}"


def _load_soundfile(path: Path, info: _SfInfo, excerpt_seconds: float,
                    max_seconds: float) -> Decoded:
    sr, total = info.sample_rate, info.frames
    if total <= 0 or sr <= 0:
        raise AudioDecodeError(path, f"{info.format} file holds no audio frames")
    start, count = _window_frames(total, sr, window_seconds(excerpt_seconds, max_seconds, sr))
    out = np.empty((count, 2), dtype=np.float32)
    matrix = downmix_matrix(info.channels, "vorbis" if info.format == "OGG" else "wav")
    with sf.SoundFile(str(path)) as f:
        if start:
            f.seek(start)
        got = _read_blocks(f, out, matrix)
    if count - got > _TRUNCATION_TOLERANCE_S * sr:
        raise AudioDecodeError(path, _truncated(info.format, total / sr, (start + got) / sr))
    return Decoded(out[:got], sr, info.channels, total / sr, start / sr)


def _read_blocks(f: sf.SoundFile, out: np.ndarray, matrix: np.ndarray | None) -> int:
    """Fill `out` (frames, 2) from `f` block by block, folding channels with `matrix`;
    returns the number of frames read (short when the file ends early)."""
    pos = 0
    scratch = None if matrix is None else np.empty((_BLOCK_FRAMES, f.channels), np.float32)
    while pos < out.shape[0]:
        n = min(_BLOCK_FRAMES, out.shape[0] - pos)
        if scratch is None:  # stereo: straight into place (row slices are C-contiguous)
            got = f.read(n, dtype="float32", always_2d=True, out=out[pos:pos + n]).shape[0]
        else:
            block = f.read(n, dtype="float32", always_2d=True, out=scratch[:n])
            got = block.shape[0]
            out[pos:pos + got] = block @ matrix
        pos += got
        if got < n:
            break
    return pos


def downmix_matrix(channels: int, order: str = "wav") -> np.ndarray | None:
    """(channels, 2) matrix folding a file's channels to stereo; None for stereo itself.

    Mono is duplicated to both sides at full level. Surround follows ITU-R BS.775 (Table 2,
    3/2 -> 2/0): L = FL + 0.707 C + 0.707 Ls, R = FR + 0.707 C + 0.707 Rs; the LFE channel is
    dropped, a single back centre goes to both sides at 0.5 (0.707 * 0.707), and the sum is not
    normalised (float samples cannot clip). ffmpeg's default `-ac 2` rematrix uses the same
    coefficients, so both decoders agree. `order` is the channel order of the container when
    it does not say: WAV/FLAC/AIFF use the Microsoft order (FL FR FC LFE BL BR SL SR), Ogg
    the Vorbis order (FL FC FR …)."""
    if channels == 2:
        return None
    if channels == 1:
        return np.ones((1, 2), dtype=np.float32)
    labels = (_VORBIS_ORDER if order == "vorbis" else _WAV_ORDER).get(channels)
    matrix = np.zeros((channels, 2), dtype=np.float32)
    if labels is None:  # unknown layout: keep the first two channels
        matrix[0, 0] = matrix[1, 1] = 1.0
        return matrix
    for i, label in enumerate(labels):
        matrix[i] = _BS775_GAINS[label]
    return matrix


_BS775_GAINS = {
    "FL": (1.0, 0.0), "FR": (0.0, 1.0), "FC": (_SURROUND, _SURROUND), "LFE": (0.0, 0.0),
    "BL": (_SURROUND, 0.0), "BR": (0.0, _SURROUND), "SL": (_SURROUND, 0.0),
    "SR": (0.0, _SURROUND), "BC": (0.5, 0.5),
}
_WAV_ORDER = {
    3: ("FL", "FR", "FC"), 4: ("FL", "FR", "BL", "BR"), 5: ("FL", "FR", "FC", "BL", "BR"),
    6: ("FL", "FR", "FC", "LFE", "BL", "BR"), 7: ("FL", "FR", "FC", "LFE", "BC", "SL", "SR"),
    8: ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"),
}
_VORBIS_ORDER = {
    3: ("FL", "FC", "FR"), 4: ("FL", "FR", "BL", "BR"), 5: ("FL", "FC", "FR", "BL", "BR"),
    6: ("FL", "FC", "FR", "BL", "BR", "LFE"), 7: ("FL", "FC", "FR", "SL", "SR", "BC", "LFE"),
    8: ("FL", "FC", "FR", "SL", "SR", "BL", "BR", "LFE"),
}


def _check_declared_length(path: Path, info: _SfInfo) -> None:
    """Raise when a WAV/AIFF header promises more audio than the file holds.

    libsndfile quietly shortens such files to what is there, which would record a cut-off
    download as a short track; FLAC and MP3 cut-offs show up while decoding instead."""
    declared = _declared_frames(path, info.format)
    if declared and declared - info.frames > _TRUNCATION_TOLERANCE_S * info.sample_rate:
        raise AudioDecodeError(path, _truncated(info.format, declared / info.sample_rate,
                                                info.frames / info.sample_rate))


def _declared_frames(path: Path, fmt: str) -> int | None:
    """Frame count a WAV (RIFF) or AIFF header declares, or None when it does not say."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if fmt == "WAV" and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return _riff_declared_frames(f)
            if fmt == "AIFF" and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _aiff_declared_frames(f)
    except (OSError, struct.error):
        pass
    return None


def _walk_chunks(f, endian: str):
    """Yield (id, size, data offset) of the chunks after a 12-byte RIFF/FORM header."""
    offset = 12
    for _ in range(1000):  # a sane file has a handful of chunks
        f.seek(offset)
        header = f.read(8)
        if len(header) < 8:
            return
        cid, size = header[:4], struct.unpack(endian + "I", header[4:])[0]
        yield cid, size, offset + 8
        offset += 8 + size + (size & 1)


def _riff_declared_frames(f) -> int | None:
    block_align = 0
    for cid, size, data_at in _walk_chunks(f, "<"):
        if cid == b"fmt ":
            f.seek(data_at + 12)
            block_align = struct.unpack("<H", f.read(2))[0]
        elif cid == b"data":
            # 0 and 0xFFFFFFFF are placeholders of streaming writers (and RF64): unknown length
            if not block_align or size in (0, 0xFFFFFFFF):
                return None
            return size // block_align
    return None


def _aiff_declared_frames(f) -> int | None:
    for cid, _size, data_at in _walk_chunks(f, ">"):
        if cid == b"COMM":
            f.seek(data_at + 2)
            return struct.unpack(">I", f.read(4))[0] or None
    return None


# --------------------------------------------------------------------------- ffmpeg

@dataclass(frozen=True)
class _Probe:
    sample_rate: int
    channels: int
    duration_s: float | None
    duration_exact: bool  # False when ffmpeg guessed it from the bitrate (MP3 without header)


def _load_ffmpeg(path: Path, excerpt_seconds: float, max_seconds: float,
                 sndfile_reason: str, read_failure: str = "") -> Decoded:
    """Decode with ffmpeg. `sndfile_reason` says why libsndfile was not used (for messages);
    `read_failure` is libsndfile's error when it opened the file but failed to read it."""
    probe = _ffprobe(path, sndfile_reason)
    sr = probe.sample_rate
    window = window_seconds(excerpt_seconds, max_seconds, sr)
    duration = probe.duration_s
    offset = 0.0
    if window and duration and duration > window:
        offset = (duration - window) / 2.0
    out_channels = 1 if probe.channels == 1 else 2  # ffmpeg's mono upmix is -3 dB: do it here
    data, ffmpeg_reason = _run_ffmpeg(path, offset, window, sr, out_channels,
                                      _expected_frames(probe, offset, window))
    got_s = data.shape[0] / sr
    if data.shape[0] == 0:
        raise AudioDecodeError(path, _unreadable(path, sndfile_reason,
                                                 f"ffmpeg: {ffmpeg_reason or 'no audio decoded'}"))
    if probe.duration_exact and duration:
        expected_s = min(duration - offset, window) if window else duration
        if got_s < expected_s - max(_TRUNCATION_TOLERANCE_S, 0.02 * expected_s):
            ffmpeg_said = f"ffmpeg: {ffmpeg_reason}" if ffmpeg_reason else ""
            detail = "; ".join(r for r in (read_failure, ffmpeg_said) if r)
            raise AudioDecodeError(path, _truncated("", offset + expected_s, offset + got_s)
                                   + (f" ({detail})" if detail else ""))
    samples = np.repeat(data, 2, axis=1) if out_channels == 1 else data
    if window == 0 or not duration or duration <= window:
        duration = got_s  # whole file decoded: its length beats a header value or bitrate guess
    return Decoded(np.ascontiguousarray(samples), sr, probe.channels, duration or got_s, offset)


def _ffprobe(path: Path, sndfile_reason: str) -> _Probe:
    """Sample rate, channels and duration of the first audio stream (one ffprobe call)."""
    if shutil.which("ffprobe") is None:
        return _Probe(_FFMPEG_FALLBACK_SR, 2, None, False)
    cmd = ["ffprobe", "-v", "warning", "-select_streams", "a:0", "-show_entries",
           "stream=codec_name,sample_rate,channels,duration:format=duration,format_name",
           "-of", "json", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_FFPROBE_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError(path, f"ffprobe timed out after {_FFPROBE_TIMEOUT_S} s") from exc
    try:
        report = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        report = {}
    streams = report.get("streams") or []
    stream = streams[0] if streams else {}
    sr, channels = _positive(stream.get("sample_rate")), _positive(stream.get("channels"))
    if not stream or not sr or not channels:
        why = _first_line(_ffmpeg_errors(proc.stderr, path)) or (
            "no audio stream" if not stream else "no sample rate or channel count")
        raise AudioDecodeError(path, _unreadable(path, sndfile_reason, f"ffmpeg: {why}"))
    duration = _positive(report.get("format", {}).get("duration")) or _positive(
        stream.get("duration"))
    exact = "Estimating duration from bitrate" not in proc.stderr
    return _Probe(int(sr), int(channels), duration, exact)


def _expected_frames(probe: _Probe, offset: float, window: float) -> int:
    """Initial output buffer size: what ffmpeg should produce, plus a little."""
    seconds = window if window else None
    if probe.duration_s:
        rest = probe.duration_s - offset
        seconds = min(seconds, rest) if seconds else rest
    if not seconds:
        return 60 * probe.sample_rate
    return int(seconds * probe.sample_rate * 1.02) + probe.sample_rate


def _run_ffmpeg(path: Path, offset: float, window: float, sr: int, channels: int,
                expected_frames: int) -> tuple[np.ndarray, str]:
    """Decode with ffmpeg to float32 and return (frames, channels) plus its first error line.

    Output is streamed into a preallocated buffer instead of `capture_output`, which would
    hold the raw bytes and their numpy copy at once. `-t` bounds the output even when the
    file's duration is unknown, so a cap always caps."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]
    if offset > 0:
        cmd += ["-ss", f"{offset:.6f}"]  # before -i: seek in the input, do not decode the start
    if window > 0:
        cmd += ["-t", f"{window:.6f}"]
    cmd += ["-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn", "-f", "f32le",
            "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sr), "-"]
    limit = int(math.ceil(window * sr)) if window > 0 else None
    capacity = min(expected_frames, limit) if limit else expected_frames
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty ffmpeg can't block
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        timed_out = threading.Event()
        watchdog = threading.Timer(_FFMPEG_TIMEOUT_S, lambda: (timed_out.set(), proc.kill()))
        watchdog.start()
        try:
            data = _read_stream(proc.stdout, channels, capacity, limit)
        finally:
            watchdog.cancel()
            proc.stdout.close()  # stopped early (limit reached): ffmpeg ends on the broken pipe
            proc.wait()
        errors.seek(0)
        reason = _first_line(_ffmpeg_errors(errors.read().decode("utf-8", errors="replace"), path))
    if timed_out.is_set():
        reason = f"ffmpeg timed out after {_FFMPEG_TIMEOUT_S} s"
    return data, reason


def _read_stream(stream, channels: int, capacity: int, limit: int | None) -> np.ndarray:
    """Read float32 frames from `stream` until EOF (or `limit` frames) into a growing buffer."""
    frame_bytes = 4 * channels
    buf = np.empty((max(capacity, 1), channels), dtype=np.float32)
    filled = 0  # bytes
    while True:
        view = memoryview(buf).cast("B")
        if filled == len(view):
            if limit is not None and buf.shape[0] >= limit:
                break
            grown = buf.shape[0] * 2 if limit is None else min(buf.shape[0] * 2, limit)
            buf = np.resize(buf, (grown, channels))  # rare: only when the duration was a guess
            continue
        n = stream.readinto(view[filled:])
        if not n:
            break
        filled += n
    return buf[: filled // frame_bytes]


_FFMPEG_NOISE = ("Last message repeated", "Estimating duration from bitrate",
                 "misdetection possible", "Consider increasing the value")


def _ffmpeg_errors(text: str, path: Path | None = None) -> str:
    """ffmpeg's error lines without noise ('Last message repeated', probing hints) and
    without the file name it puts in front of some of them."""
    lines = []
    for line in text.splitlines():
        if not line.strip() or any(noise in line for noise in _FFMPEG_NOISE):
            continue
        if path is not None:
            line = line.replace(f"{path}: ", "")
        lines.append(line)
    return "\n".join(lines)


def _positive(value: object) -> float | None:
    try:
        number = float(value) if value not in (None, "", "N/A") else None
    except (TypeError, ValueError):
        return None
    return number if number and math.isfinite(number) and number > 0 else None


# --------------------------------------------------------------------------- helpers

def _window_frames(total: int, sr: int, window_s: float) -> tuple[int, int]:
    """(start frame, frame count) of a centred window, or the whole file."""
    wanted = int(round(window_s * sr))
    if window_s <= 0 or wanted >= total:
        return 0, total
    return (total - wanted) // 2, wanted


def _truncated(fmt: str, declared_s: float, got_s: float) -> str:
    what = f"{fmt} " if fmt else ""
    return (f"truncated {what}file: it should hold {declared_s:.1f} s of audio but only "
            f"{got_s:.1f} s could be decoded (incomplete download or copy?)")


def _unreadable(path: Path, *reasons: str) -> str:
    """'not readable as audio: <what the content looks like> (<decoder reasons>)'."""
    detail = "; ".join(r for r in reasons if r)
    return f"not readable as audio: {_sniff(path)} ({detail})"


_MAGIC = ((b"RIFF", "a RIFF/WAV container"), (b"fLaC", "a FLAC stream"), (b"OggS", "an Ogg stream"),
          (b"ID3", "an MP3 with an ID3 tag"), (b"FORM", "an AIFF container"))


def _sniff(path: Path) -> str:
    """A short description of what the file's first bytes look like."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"looks like {what} but its audio data is damaged"
    if head[4:8] == b"ftyp":
        return "looks like an MP4/M4A container but its audio data is damaged"
    if _looks_like_text(head):
        preview = head[:40].decode("utf-8", errors="replace").split("\n")[0].strip()
        return f"the file is text, not audio (starts with {preview!r})"
    named = f"although named {path.suffix}" if path.suffix else "and no file extension"
    return f"no known audio header (first bytes {head[:8].hex(' ')}) {named}"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable / len(text) > 0.95


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
