"""Audio decoding and feature extraction on real (synthesized) audio files - nothing mocked.

Tempo/key ground truth comes from two independent synthesizers: the demo library's (`render`)
and a minimal one below (clicks, sine triads and a sine bass), so the checks do not depend on
one generator's habits. Pumpiness has its own file (test_pumpiness.py)."""

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
from sidetrack_pipeline.audio.features import (
    ANALYZER_VERSION,
    DB_COLUMNS,
    EXTRA_KEYS,
    analyze_file,
    analyze_signal,
)
from sidetrack_pipeline.demo.synth import TrackSpec, render
from sidetrack_pipeline.scoring.store import FEATURE_COLUMNS

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
    assert tuple(DB_COLUMNS) == tuple(FEATURE_COLUMNS)  # the features table stays as it is
    assert result["analyzer_version"] == ANALYZER_VERSION == "mir-2"
    assert result["sample_rate"] == SR and result["channels"] == 2
    assert result["duration_s"] == pytest.approx(16.0)
    for name in FEATURE_KEYS - {"key", "mode", "analyzer_version", "sample_rate", "channels",
                                "extra"}:
        assert type(result[name]) is float, name
    extra = result["extra"]
    assert set(extra) == set(EXTRA_KEYS)
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
    assert 0.0 <= extra["percussive_fraction"] <= 1.0
    assert extra["crest_factor_db"] > 0.0 and extra["peak_dbfs"] <= 0.0
    assert extra["dynamic_range_db"] > 0.0


def test_timbre_and_chroma_statistics_have_their_shapes(tempo_tracks: dict) -> None:
    extra = tempo_tracks[124.0][1]["extra"]
    assert len(extra["mfcc_mean"]) == len(extra["mfcc_var"]) == 13
    assert all(v >= 0.0 for v in extra["mfcc_var"])
    assert len(extra["chroma_mean"]) == len(extra["chroma_std"]) == 12
    assert sum(extra["chroma_mean"]) == pytest.approx(1.0, abs=1e-6)  # frames sum to 1
    assert all(v >= 0.0 for v in extra["chroma_mean"] + extra["chroma_std"])
    # A minor: the tonic is among the strongest pitch classes
    chroma = extra["chroma_mean"]
    assert chroma[9] >= sorted(chroma)[-3]
    for name in ("spectral_centroid_hz", "spectral_rolloff_hz", "spectral_flatness",
                 "spectral_flux", "zcr"):
        assert extra[f"{name}_std"] >= 0.0, name
    assert set(extra["key_alternatives"]) == {"edma", "krumhansl", "temperley", "bgate"}
    for alt in extra["key_alternatives"].values():
        assert set(alt) == {"key", "scale", "strength"}
        assert alt["scale"] in ("major", "minor") and 0.0 <= alt["strength"] <= 1.0
    assert extra["key_profile"] == "edma"
    assert abs(extra["tuning_cents"]) < 10.0  # the synth is tuned to A440


def test_analysis_is_deterministic(tempo_tracks: dict) -> None:
    path, result = tempo_tracks[90.0]
    assert analyze_file(path) == result


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
    assert result["loudness_lufs"] is None and result["extra"]["mfcc_mean"] is None
    _assert_json_safe(result)


@pytest.mark.parametrize("freq", [55.0, 440.0, 3520.0])
def test_pure_sine_is_nan_free_with_no_beat(freq: float) -> None:
    t = np.arange(SR * 8) / SR
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    result = analyze_signal(Decoded(np.stack([x, x], axis=1), SR, 1, 8.0))
    _assert_json_safe(result)
    assert result["bpm"] is None  # no onsets, no tempo
    assert result["onset_rate"] < 0.5
    assert result["stereo_width"] == pytest.approx(0.0, abs=1e-9)
    assert -12.0 < result["loudness_lufs"] < 0.0  # 0.5 peak in both channels: ~-6 LUFS
    assert result["extra"]["crest_factor_db"] == pytest.approx(3.01, abs=0.05)
    assert result["extra"]["percussive_fraction"] < 0.2


@pytest.mark.parametrize("seconds", [0.02, 0.7, 3.0])
def test_short_signals_are_nan_free(seconds: float) -> None:
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((int(SR * seconds), 2))).astype(np.float32)
    result = analyze_signal(Decoded(x, SR, 2, seconds))
    _assert_json_safe(result)
    assert result["bpm"] is None


def _assert_json_safe(result: dict) -> None:
    assert set(result) == FEATURE_KEYS and set(result["extra"]) == set(EXTRA_KEYS)
    for value in _walk(result):
        assert value is None or isinstance(value, (str, bool, int, float))
        assert not (isinstance(value, float) and not math.isfinite(value))
    json.dumps(result, allow_nan=False)


# --------------------------------------------------------------------------- an independent synth

def _tone(freq: float, n: int, partials: int = 4) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, partials + 1))


def _midi_hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def _song(tempo: float, tonic: int, mode: str, seconds: float = 14.0,
          pattern: str = "four") -> np.ndarray:
    """Clicky drums + a sine bass on the chord roots + sustained triads: I-IV-V-I (major) or
    i-iv-v-i (minor), one chord per bar. `pattern`: 'four' (kick every beat, noise snare on 2
    and 4) or 'backbeat' (kick on 1 and 3, snare on 2 and 4)."""
    rng = np.random.default_rng(tonic * 7 + int(tempo))
    n = int(seconds * SR)
    beat = 60.0 / tempo
    third = 4 if mode == "major" else 3
    out = np.zeros(n)
    kick_n = int(0.12 * SR)
    tk = np.arange(kick_n) / SR
    kick = np.sin(2 * np.pi * np.cumsum(50 + 90 * np.exp(-tk / 0.02)) / SR) * np.exp(-tk / 0.05)
    snare = rng.standard_normal(int(0.1 * SR)) * np.exp(-np.arange(int(0.1 * SR)) / (0.02 * SR))
    n_beats = int(seconds / beat)
    for b in range(n_beats):
        start = int(round(b * beat * SR))
        if pattern == "four" or b % 2 == 0:
            m = min(kick_n, n - start)
            out[start:start + m] += 0.9 * kick[:m]
        if b % 2 == 1:
            m = min(snare.size, n - start)
            out[start:start + m] += 0.3 * snare[:m]
    for bar in range(int(np.ceil(n_beats / 4))):
        degree = (0, 5, 7, 0)[bar % 4]
        root = tonic + degree
        fifth_quality = third if degree == 0 else (4 if mode == "major" else 3)
        start, stop = int(bar * 4 * beat * SR), min(n, int((bar + 1) * 4 * beat * SR))
        if start >= n:
            break
        m = stop - start
        ramp = np.arange(m) / (0.02 * SR)
        env = np.minimum(1.0, ramp) * np.minimum(1.0, ramp[::-1])
        chord = sum(_tone(_midi_hz(60 + (root + i) % 12), m) for i in (0, fifth_quality, 7))
        out[start:stop] += 0.08 * chord * env
        out[start:stop] += 0.25 * _tone(_midi_hz(36 + root % 12), m, 2) * env
    return (out / np.abs(out).max() * 0.9).astype(np.float32)


@pytest.mark.parametrize("tempo,pattern", [(72.0, "backbeat"), (96.0, "backbeat"),
                                           (122.0, "four"), (138.0, "four"),
                                           (174.0, "backbeat")])
def test_tempo_of_an_independent_synth(tempo: float, pattern: str) -> None:
    x = _song(tempo, 2, "major", pattern=pattern)
    result = analyze_signal(Decoded(np.stack([x, x], axis=1), SR, 2, x.shape[0] / SR))
    assert result["bpm"] == pytest.approx(tempo, rel=0.02), result["extra"]["bpm_candidates"]


@pytest.mark.parametrize("tonic,mode", [(0, "major"), (9, "minor"), (6, "major"), (3, "minor"),
                                        (10, "minor")])
def test_key_of_an_independent_synth(tonic: int, mode: str) -> None:
    x = _song(118.0, tonic, mode)
    result = analyze_signal(Decoded(np.stack([x, x], axis=1), SR, 2, x.shape[0] / SR))
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    assert (result["key"], result["mode"]) == (names[tonic], mode)


# --------------------------------------------------------------------------- texture and dynamics

def _decoded(x: np.ndarray) -> Decoded:
    x = np.asarray(x, dtype=np.float32)
    return Decoded(np.stack([x, x], axis=1), SR, 2, x.shape[0] / SR)


def test_percussive_ratio_is_higher_for_drums_than_for_pads() -> None:
    rng = np.random.default_rng(3)
    n = SR * 8
    drums = np.zeros(n)
    hit = rng.standard_normal(int(0.08 * SR)) * np.exp(-np.arange(int(0.08 * SR)) / (0.01 * SR))
    for start in range(0, n - hit.size, int(0.25 * SR)):
        drums[start:start + hit.size] += hit
    pads = sum(_tone(_midi_hz(note), n) for note in (57, 60, 64))
    r_drums = analyze_signal(_decoded(0.5 * drums / np.abs(drums).max()))["extra"]
    r_pads = analyze_signal(_decoded(0.5 * pads / np.abs(pads).max()))["extra"]
    assert r_drums["percussive_harmonic_ratio"] > 10.0 * r_pads["percussive_harmonic_ratio"]
    assert r_drums["percussive_fraction"] > 0.7 > 0.3 > r_pads["percussive_fraction"]


def test_loudness_range_is_larger_with_a_quiet_break() -> None:
    x = _song(124.0, 5, "minor", seconds=30.0)
    steady = analyze_signal(_decoded(x))
    gain = np.ones_like(x)
    gain[10 * SR:20 * SR] = 10 ** (-18 / 20)  # a 10 s break, 18 dB down
    broken = analyze_signal(_decoded(x * gain))
    assert broken["loudness_range_lu"] > steady["loudness_range_lu"] + 8.0
    assert steady["loudness_range_lu"] < 4.0
    assert broken["extra"]["dynamic_range_db"] >= steady["extra"]["dynamic_range_db"] - 0.5


def test_limiting_lowers_crest_factor_and_dynamic_range() -> None:
    x = _song(124.0, 5, "minor", seconds=16.0).astype(np.float64)
    limited = np.tanh(6.0 * x) / np.tanh(6.0)
    open_ = analyze_signal(_decoded(0.9 * x / np.abs(x).max()))["extra"]
    squashed = analyze_signal(_decoded(0.9 * limited / np.abs(limited).max()))["extra"]
    assert squashed["crest_factor_db"] < open_["crest_factor_db"] - 3.0
    assert squashed["dynamic_range_db"] < open_["dynamic_range_db"] - 3.0


def test_centroid_follows_brightness_and_steady_tones_have_steady_mfccs(tempo_tracks: dict) -> None:
    n = SR * 6
    dark = _tone(110.0, n, 2)
    bright = _tone(110.0, n, 40)
    r_dark = analyze_signal(_decoded(0.5 * dark / np.abs(dark).max()))
    r_bright = analyze_signal(_decoded(0.5 * bright / np.abs(bright).max()))
    assert r_bright["spectral_centroid_hz"] > 2.0 * r_dark["spectral_centroid_hz"]
    assert r_bright["extra"]["spectral_rolloff_hz"] > r_dark["extra"]["spectral_rolloff_hz"]
    song_var = sum(tempo_tracks[124.0][1]["extra"]["mfcc_var"])
    for steady in (r_dark, r_bright):
        assert sum(steady["extra"]["mfcc_var"]) < 0.1 * song_var
    assert r_bright["extra"]["mfcc_mean"] != r_dark["extra"]["mfcc_mean"]


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
