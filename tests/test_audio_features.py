"""Audio decoding and feature extraction on real (synthesized) audio files - nothing mocked."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sidetrack_pipeline.audio.decode import AudioDecodeError, Decoded, load_audio
from sidetrack_pipeline.audio.features import ANALYZER_VERSION, analyze_file, analyze_signal
from sidetrack_pipeline.audio.pumpiness import pumpiness
from sidetrack_pipeline.demo.synth import TrackSpec, render

SR = 44100
FEATURE_KEYS = {
    "duration_s", "bpm", "bpm_confidence", "key", "mode", "key_confidence", "loudness_lufs",
    "loudness_range_lu", "spectral_centroid_hz", "onset_rate", "stereo_width", "lr_correlation",
    "pumpiness", "danceability", "dynamic_complexity", "analyzer_version", "sample_rate",
    "channels", "extra",
}
# one track per tempo region: backbeat (70, 90), four-on-the-floor (124, 140), breakbeat (174)
TEMPO_SPECS = {
    tempo: TrackSpec(tempo, key, mode, brightness=b, density=d, width=w, ducking=duck,
                     duration_s=16.0, seed=seed)
    for tempo, key, mode, b, d, w, duck, seed in [
        (70.0, 7, "minor", 0.3, 0.6, 0.5, 0.0, 21),
        (90.0, 2, "major", 0.7, 0.4, 0.3, 0.0, 22),
        (124.0, 9, "minor", 0.5, 0.7, 0.8, 0.6, 23),
        (140.0, 4, "major", 0.2, 0.3, 0.0, 0.0, 24),
        (174.0, 5, "minor", 0.8, 0.8, 0.6, 0.0, 25),
    ]
}


def _write(path: Path, audio: np.ndarray, sr: int = SR) -> Path:
    sf.write(str(path), audio, sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def tempo_tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[float, tuple[Path, dict]]:
    """Each TEMPO_SPECS track written to FLAC and analysed once."""
    out = tmp_path_factory.mktemp("tracks")
    tracks = {}
    for tempo, spec in TEMPO_SPECS.items():
        path = _write(out / f"{int(tempo)}.flac", render(spec))
        tracks[tempo] = (path, analyze_file(path))
    return tracks


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


# --------------------------------------------------------------------------- features

@pytest.mark.parametrize("tempo", sorted(TEMPO_SPECS))
def test_bpm_within_4_percent(tempo_tracks: dict, tempo: float) -> None:
    _, result = tempo_tracks[tempo]
    assert result["bpm"] == pytest.approx(tempo, rel=0.04), result["extra"]["bpm_candidates"]
    assert 0.0 <= result["bpm_confidence"] <= 1.0


@pytest.mark.parametrize("tempo", [70.0, 124.0, 140.0, 174.0])
def test_key_and_mode(tempo_tracks: dict, tempo: float) -> None:
    _, result = tempo_tracks[tempo]
    spec = TEMPO_SPECS[tempo]
    assert (result["key"], result["mode"]) == (spec.key_name, spec.mode)
    assert 0.0 < result["key_confidence"] <= 1.0


def test_output_schema_is_exact_json_safe_and_nan_free(tempo_tracks: dict) -> None:
    path, result = tempo_tracks[124.0]
    assert set(result) == FEATURE_KEYS
    assert result["analyzer_version"] == ANALYZER_VERSION == "mir-1"
    assert result["sample_rate"] == SR and result["channels"] == 2
    assert result["duration_s"] == pytest.approx(16.0)
    for name in FEATURE_KEYS - {"key", "mode", "analyzer_version", "sample_rate", "channels",
                                "extra"}:
        assert type(result[name]) is float, name
    extra = result["extra"]
    for name in ("spectral_flatness", "spectral_rolloff_hz", "spectral_flux", "zcr",
                 "pumpiness_corr", "bpm_candidates"):
        assert name in extra
    assert any(c["chosen"] for c in extra["bpm_candidates"])
    for value in _walk(result):
        assert value is None or isinstance(value, (str, bool, int, float))
        assert not (isinstance(value, float) and not math.isfinite(value))
    json.dumps(result, allow_nan=False)
    # ranges
    assert -1.0 <= result["lr_correlation"] <= 1.0
    for name in ("stereo_width", "pumpiness", "bpm_confidence", "key_confidence"):
        assert 0.0 <= result[name] <= 1.0
    assert -40.0 < result["loudness_lufs"] < 0.0
    assert 100.0 < result["spectral_centroid_hz"] < 10000.0
    assert result["onset_rate"] > 0.5


def test_analysis_is_deterministic(tempo_tracks: dict) -> None:
    path, result = tempo_tracks[90.0]
    assert analyze_file(path) == result


def test_pumpiness_separates_ducked_from_dry_and_grows_with_depth() -> None:
    depths = (0.0, 0.3, 0.6, 0.9)
    raws, scores = [], []
    for depth in depths:
        spec = TrackSpec(124.0, 2, "minor", brightness=0.5, density=0.5, width=0.5,
                         ducking=depth, duration_s=12.0, seed=3)
        score, raw = pumpiness(render(spec), SR)
        raws.append(raw)
        scores.append(score)
    assert all(a < b for a, b in zip(raws, raws[1:])), raws
    assert scores[-1] > scores[0] + 0.5, scores
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("tempo", [85.0, 170.0])
def test_pumpiness_ducked_above_dry_in_backbeat_styles(tempo: float) -> None:
    def raw(depth: float) -> float:
        spec = TrackSpec(tempo, 5, "major", density=0.6, ducking=depth, duration_s=12.0, seed=4)
        return pumpiness(render(spec), SR)[1]
    assert raw(0.7) > raw(0.0) + 0.1


def test_pumpiness_accepts_mono_and_short_input() -> None:
    x = render(TrackSpec(124.0, 0, "minor", ducking=0.8, duration_s=8.0, seed=5))
    assert pumpiness(x[:, 0], SR) == pumpiness(np.repeat(x[:, :1], 2, axis=1), SR)
    assert pumpiness(x[: SR // 2], SR) == (0.0, 0.0)  # too few kicks to judge


def test_stereo_width_mono_is_zero_and_wide_is_wider(tmp_path: Path) -> None:
    results = {}
    for width in (0.0, 1.0):
        spec = TrackSpec(120.0, 0, "major", width=width, duration_s=8.0, seed=6)
        results[width] = analyze_file(_write(tmp_path / f"w{width}.flac", render(spec)))
    assert results[0.0]["stereo_width"] < 1e-4
    assert results[0.0]["lr_correlation"] > 0.999
    assert results[1.0]["stereo_width"] > 0.05
    assert results[1.0]["lr_correlation"] < results[0.0]["lr_correlation"]


def test_resampled_input_gives_the_same_tempo(tmp_path: Path) -> None:
    spec = TrackSpec(128.0, 1, "minor", duration_s=12.0, seed=7)
    path = _write(tmp_path / "48k.wav", render(spec, sr=48000), sr=48000)
    result = analyze_file(path)
    assert result["sample_rate"] == 48000
    assert result["bpm"] == pytest.approx(128.0, rel=0.04)


def test_silence_gives_nones_not_nans() -> None:
    silence = Decoded(np.zeros((SR * 6, 2), dtype=np.float32), SR, 2, 6.0)
    result = analyze_signal(silence)
    assert result["bpm"] is None and result["key"] is None
    json.dumps(result, allow_nan=False)


# --------------------------------------------------------------------------- decoding

def test_mono_file_is_duplicated_to_stereo(tmp_path: Path) -> None:
    audio = render(TrackSpec(110.0, 3, "major", duration_s=6.0, seed=8))[:, 0]
    decoded = load_audio(_write(tmp_path / "mono.flac", audio))
    assert decoded.channels == 1 and decoded.sample_rate == SR
    assert decoded.samples.shape == (6 * SR, 2) and decoded.samples.dtype == np.float32
    assert np.array_equal(decoded.samples[:, 0], decoded.samples[:, 1])
    assert decoded.duration_s == pytest.approx(6.0)
    assert decoded.mono_at(22050).shape[0] == pytest.approx(3 * SR, abs=2)


def test_excerpt_is_centred(tmp_path: Path) -> None:
    audio = render(TrackSpec(110.0, 3, "major", duration_s=10.0, seed=9))
    path = _write(tmp_path / "ten.flac", audio)
    full = load_audio(path)
    part = load_audio(path, excerpt_seconds=4.0)
    assert part.duration_s == pytest.approx(10.0)
    assert part.excerpt_s == pytest.approx(4.0)
    assert part.offset_s == pytest.approx(3.0)
    start = int(round(part.offset_s * SR))
    assert np.array_equal(part.samples, full.samples[start:start + 4 * SR])
    longer = load_audio(path, excerpt_seconds=60.0)  # longer than the file: the whole file
    assert longer.offset_s == 0.0 and longer.samples.shape == full.samples.shape
    result = analyze_file(path, excerpt_seconds=4.0)
    assert result["duration_s"] == pytest.approx(10.0)
    assert result["extra"]["excerpt_s"] == pytest.approx(4.0)


@pytest.fixture
def good_flac(tmp_path: Path) -> Path:
    audio = render(TrackSpec(120.0, 0, "minor", duration_s=8.0, seed=10))
    return _write(tmp_path / "good.flac", audio)


def test_empty_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty file") as info:
        load_audio(path)
    assert info.value.path == str(path)


def test_random_bytes_raise(tmp_path: Path) -> None:
    path = tmp_path / "noise.flac"
    path.write_bytes(np.random.default_rng(0).bytes(20000))
    with pytest.raises(AudioDecodeError, match="not readable as audio") as info:
        analyze_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("keep", [0.02, 0.3])
def test_truncated_flac_raises(good_flac: Path, keep: float) -> None:
    data = good_flac.read_bytes()
    good_flac.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(AudioDecodeError, match="truncated|not readable") as info:
        load_audio(good_flac)
    assert info.value.reason


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="file not found"):
        load_audio(tmp_path / "nope.flac")


def test_decode_error_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(AudioDecodeError("/a.flac", "empty file (0 bytes)")))
    assert (err.path, err.reason) == ("/a.flac", "empty file (0 bytes)")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
def test_ffmpeg_fallback_decodes_what_libsndfile_cannot(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"  # AAC in MP4: not a libsndfile format
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=6:sample_rate=48000", "-ac", "1", "-c:a", "aac",
                    str(path)], check=True)
    decoded = load_audio(path)
    assert decoded.sample_rate == 48000 and decoded.channels == 1
    assert decoded.samples.shape[1] == 2
    assert decoded.duration_s == pytest.approx(6.0, abs=0.1)
    assert load_audio(path, excerpt_seconds=2.0).excerpt_s == pytest.approx(2.0, abs=0.05)
