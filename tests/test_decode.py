"""Decoding: every format users have, channel folding, centred windows, and broken files.

Fixtures are synthesised here and encoded with the ffmpeg binary; nothing is mocked except, in
one test, ffmpeg's absence (to exercise libsndfile's own multichannel path).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sidetrack_pipeline.audio import decode
from sidetrack_pipeline.audio.decode import AudioDecodeError, downmix_matrix, load_audio

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")

SR = 44100
K = 1.0 / math.sqrt(2.0)

# extension -> ffmpeg codec arguments; None: written losslessly by soundfile
FORMATS: dict[str, list[str] | None] = {
    "wav": None, "flac": None, "aiff": None,
    "ogg": ["-c:a", "libvorbis", "-q:a", "5"],
    "opus": ["-c:a", "libopus", "-b:a", "128k"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "m4a": ["-c:a", "aac", "-b:a", "192k"],
}
LOSSLESS = {"wav", "flac", "aiff"}


# --------------------------------------------------------------------------- fixture builders

def synth_signal(seconds: float, sr: int = SR, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A 120 BPM click track over a chirp, different in every channel; (n, channels) float32."""
    t = np.arange(int(seconds * sr)) / sr
    click = np.exp(-(t % 0.5) * 40.0) * np.sin(2 * np.pi * 80.0 * t)
    columns = [0.3 * click + 0.2 * np.sin(2 * np.pi * (150.0 + 70.0 * c) * t * (1 + 0.02 * t))
               for c in range(channels)]
    noise = np.random.default_rng(seed).standard_normal((t.shape[0], channels)) * 0.01
    return (np.stack(columns, axis=1) + noise).astype(np.float32)




def write_audio(path: Path, seconds: float = 6.0, sr: int = SR, channels: int = 2,
                data: np.ndarray | None = None) -> Path:
    """Write a synthesised (or given) signal in the format of `path`'s extension."""
    data = synth_signal(seconds, sr, channels) if data is None else data
    ext = path.suffix.lstrip(".")
    codec = FORMATS.get(ext)
    if codec is None:
        sf.write(path, data, sr, subtype="PCM_16" if ext != "flac" else "PCM_24")
        return path
    source = path.with_name(path.stem + "-source.wav")
    sf.write(source, data, sr, subtype="FLOAT")
    ffmpeg("-i", str(source), *codec, str(path))
    source.unlink()
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def write_long_wav(path: Path, seconds: float = 3 * 3600.0) -> Path:
    """A 3-hour 8 kHz mono WAV (173 MB) in well under a second: a sine from ffmpeg's lavfi."""
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=220:beep_factor=4:sample_rate=8000:"
           f"duration={seconds:g}", "-ac", "1", "-c:a", "pcm_s16le", str(path))
    return path


def truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# --------------------------------------------------------------------------- formats

@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_format_decodes_to_stereo_float32(tmp_path: Path, ext: str) -> None:
    path = write_audio(tmp_path / f"clip.{ext}", seconds=6.0)
    decoded = load_audio(path)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 2
    assert decoded.samples.shape[1] == 2 and decoded.samples.flags.c_contiguous
    assert decoded.channels == 2
    assert decoded.sample_rate == (48000 if ext == "opus" else SR)  # Opus always decodes at 48k
    assert decoded.duration_s == pytest.approx(6.0, abs=0.06)
    assert decoded.offset_s == 0.0 and decoded.excerpt_s == pytest.approx(6.0, abs=0.06)
    # channels are kept apart (not collapsed to mono)
    left, right = decoded.samples[:, 0], decoded.samples[:, 1]
    assert np.corrcoef(left, right)[0, 1] < 0.9
    if ext in LOSSLESS:
        source, _ = sf.read(path, dtype="float32", always_2d=True)
        assert np.array_equal(decoded.samples, source)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_excerpt_is_centred_and_seeked(tmp_path: Path, ext: str) -> None:
    path = write_audio(tmp_path / f"clip.{ext}", seconds=8.0)
    full = load_audio(path)
    part = load_audio(path, excerpt_seconds=3.0)
    sr = part.sample_rate
    assert part.excerpt_s == pytest.approx(3.0, abs=1.0 / sr)
    assert part.offset_s == pytest.approx((full.duration_s - 3.0) / 2, abs=0.06)
    assert part.duration_s == pytest.approx(full.duration_s, abs=0.06)
    start = int(round(part.offset_s * sr))
    same = full.samples[start:start + part.samples.shape[0]]
    if ext in LOSSLESS or ext in ("ogg", "opus"):  # libsndfile: sample-exact seeking
        assert np.array_equal(part.samples, same)
    else:  # ffmpeg -ss: the same audio once the decoder has settled after the seek
        middle = slice(sr // 2, -sr // 2)
        assert np.abs(part.samples[middle] - same[middle]).max() < 0.05


def test_vbr_mp3_without_header_decodes_to_the_end(tmp_path: Path) -> None:
    """libsndfile stops such files at mpg123's length guess (4 s of 20 in testing): MP3 must
    go through ffmpeg, which decodes the whole stream."""
    path = tmp_path / "noxing.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=20:sample_rate=44100",
           "-af", "volume='if(lt(t,10),0.05,1)':eval=frame", "-ac", "2",
           "-c:a", "libmp3lame", "-q:a", "6", "-write_xing", "0", str(path))
    decoded = load_audio(path)
    assert decoded.duration_s == pytest.approx(20.0, abs=0.1)
    assert decoded.excerpt_s == pytest.approx(20.0, abs=0.1)


# --------------------------------------------------------------------------- channels and rates

def test_mono_is_duplicated_at_full_level_but_reported_as_mono(tmp_path: Path) -> None:
    for ext in ("wav", "m4a"):  # libsndfile path and ffmpeg path (whose own upmix is -3 dB)
        mono = synth_signal(4.0, channels=1)
        decoded = load_audio(write_audio(tmp_path / f"mono.{ext}", data=mono))
        assert decoded.channels == 1
        assert np.array_equal(decoded.samples[:, 0], decoded.samples[:, 1])
        rms = float(np.sqrt(np.mean(decoded.samples[:, 0] ** 2)))
        assert rms == pytest.approx(float(np.sqrt(np.mean(mono ** 2))), rel=0.05), ext


def test_low_sample_rate_is_kept_and_resampled_on_demand(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "phone.wav", seconds=5.0, sr=8000, channels=1)
    decoded = load_audio(path)
    assert decoded.sample_rate == 8000 and decoded.channels == 1
    assert decoded.samples.shape == (40000, 2)
    at_44k = decoded.mono_at(44100)
    assert at_44k.dtype == np.float32 and at_44k.shape[0] == 5 * 44100
    assert decoded.mono_at(44100) is at_44k  # derived once


def _bs775(data: np.ndarray) -> np.ndarray:
    """ITU-R BS.775 3/2 -> 2/0 fold-down of FL FR FC LFE BL BR."""
    fl, fr, fc, _lfe, bl, br = data.T
    return np.stack([fl + K * fc + K * bl, fr + K * fc + K * br], axis=1)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_surround_folds_down_with_bs775_coefficients(tmp_path: Path, ext: str) -> None:
    data = synth_signal(3.0, channels=6) * 0.5
    path = write_audio(tmp_path / f"surround.{ext}", data=data)
    decoded = load_audio(path)
    assert decoded.channels == 6 and decoded.samples.shape == (data.shape[0], 2)
    source, _ = sf.read(path, dtype="float32", always_2d=True)  # after PCM quantisation
    np.testing.assert_allclose(decoded.samples, _bs775(source), atol=1e-5)


def test_surround_without_ffmpeg_uses_the_same_matrix(tmp_path: Path, monkeypatch) -> None:
    data = synth_signal(2.0, channels=6) * 0.5
    path = write_audio(tmp_path / "surround.wav", data=data)
    with_ffmpeg = load_audio(path)
    monkeypatch.setattr(decode.shutil, "which", lambda name: None)
    libsndfile_only = load_audio(path)
    np.testing.assert_allclose(libsndfile_only.samples, with_ffmpeg.samples, atol=1e-5)


def test_downmix_matrix_knows_the_vorbis_channel_order() -> None:
    wav, vorbis = downmix_matrix(6, "wav"), downmix_matrix(6, "vorbis")
    assert wav[2].tolist() == pytest.approx([K, K])  # FC is third in WAV order
    assert vorbis[1].tolist() == pytest.approx([K, K])  # ... and second in Vorbis order
    assert wav[3].tolist() == [0.0, 0.0] and vorbis[5].tolist() == [0.0, 0.0]  # LFE dropped
    assert downmix_matrix(2) is None
    assert downmix_matrix(1).tolist() == [[1.0, 1.0]]


# --------------------------------------------------------------------------- long files

def test_three_hour_file_decodes_a_bounded_centred_window(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MAX_ANALYSIS_SECONDS", raising=False)  # the default cap: 1200 s
    path = write_long_wav(tmp_path / "long.wav")
    tracemalloc.start()
    try:
        decoded = load_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decoded.duration_s == pytest.approx(10800.0)
    assert decoded.excerpt_s == pytest.approx(1200.0)
    assert decoded.offset_s == pytest.approx(4800.0)
    window_bytes = 1200 * 8000 * 2 * 4
    whole_file_bytes = 10800 * 8000 * 2 * 4  # 691 MB had the whole file been decoded
    assert peak < 1.5 * window_bytes < whole_file_bytes / 4


def test_cap_comes_from_the_environment_and_an_excerpt_can_only_shrink_it(
        tmp_path: Path, monkeypatch) -> None:
    path = write_audio(tmp_path / "clip.m4a", seconds=12.0)  # the ffmpeg path
    monkeypatch.setenv("MAX_ANALYSIS_SECONDS", "4")
    capped = load_audio(path)
    assert capped.excerpt_s == pytest.approx(4.0, abs=0.01)
    assert capped.offset_s == pytest.approx((capped.duration_s - 4.0) / 2, abs=0.01)
    assert load_audio(path, excerpt_seconds=2.0).excerpt_s == pytest.approx(2.0, abs=0.01)
    assert load_audio(path, excerpt_seconds=8.0).excerpt_s == pytest.approx(4.0, abs=0.01)
    assert load_audio(path, max_seconds=0).excerpt_s == pytest.approx(12.0, abs=0.05)


def test_cap_shrinks_for_high_sample_rates(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "hires.flac", seconds=4.0, sr=96000)
    decoded = load_audio(path, max_seconds=2.0)  # 2 s at 48 kHz worth of samples
    assert decoded.sample_rate == 96000
    assert decoded.excerpt_s == pytest.approx(1.0)
    assert decoded.offset_s == pytest.approx(1.5)


# --------------------------------------------------------------------------- broken files

def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match=r"empty file \(0 bytes\)") as info:
        load_audio(path)
    assert info.value.path == str(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="file not found"):
        load_audio(tmp_path / "nope.flac")
    with pytest.raises(AudioDecodeError, match="not a regular file"):
        load_audio(tmp_path)


def test_text_file_named_flac(tmp_path: Path) -> None:
    path = tmp_path / "notes.flac"
    path.write_text("Tracklist:\n1. Intro\n2. Outro\n" * 20)
    with pytest.raises(AudioDecodeError, match="not readable as audio: the file is text") as info:
        load_audio(path)
    assert "Tracklist" in info.value.reason


def test_random_bytes_named_mp3(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(AudioDecodeError, match="no known audio header .* named .mp3"):
        load_audio(path)


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "aiff"])
def test_truncated_files_name_the_missing_length(tmp_path: Path, ext: str) -> None:
    path = truncate(write_audio(tmp_path / f"cut.{ext}", seconds=8.0), keep=0.5)
    with pytest.raises(AudioDecodeError, match="truncated") as info:
        load_audio(path)
    assert "should hold 8.0 s" in info.value.reason


def test_truncated_header_only_flac(tmp_path: Path) -> None:
    path = truncate(write_audio(tmp_path / "stub.flac", seconds=8.0), keep=0.02)
    with pytest.raises(AudioDecodeError, match="truncated|not readable"):
        load_audio(path)


def test_silent_file_decodes_to_zeros(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "silence.flac", data=np.zeros((SR * 3, 2), np.float32))
    decoded = load_audio(path)
    assert decoded.samples.shape == (3 * SR, 2) and not decoded.samples.any()


def test_streaming_wav_with_placeholder_size_is_not_called_truncated(tmp_path: Path) -> None:
    """Recorders that crash leave 0xFFFFFFFF as the data size: decode what is there."""
    path = write_audio(tmp_path / "stream.wav", seconds=2.0)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data")
    raw[at + 4:at + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(raw))
    assert load_audio(path).duration_s == pytest.approx(2.0, abs=0.01)
