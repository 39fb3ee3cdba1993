"""The demo synthesizer and library builder: determinism, layout, tags and ground truth."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC

from sidetrack_pipeline.demo.library import (
    GROUND_TRUTH_FILE,
    build_demo_library,
    load_ground_truth,
    plan_library,
)
from sidetrack_pipeline.demo.synth import PITCH_NAMES, TrackSpec, render

SMALL = dict(n_tracks=6, seed=3, duration_s=4.0)


@pytest.fixture(scope="module")
def small_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("demo")
    return out, build_demo_library(out, **SMALL)


# --------------------------------------------------------------------------- synth

def test_render_is_deterministic_float32_stereo_and_peak_normalised() -> None:
    spec = TrackSpec(tempo_bpm=124.0, key=9, mode="minor", ducking=0.5, duration_s=3.0, seed=11)
    a, b = render(spec), render(spec)
    assert a.dtype == np.float32 and a.shape == (3 * 44100, 2)
    assert np.array_equal(a, b)
    peak = float(np.abs(a).max())
    assert 0.9 < peak < 1.0  # normalised, never clipping
    other = render(TrackSpec(tempo_bpm=124.0, key=9, mode="minor", ducking=0.5, duration_s=3.0,
                             seed=12))
    assert not np.array_equal(a, other)


def test_width_zero_is_exactly_mono_and_wide_is_not() -> None:
    mono = render(TrackSpec(100.0, 0, "major", width=0.0, duration_s=3.0, seed=1))
    wide = render(TrackSpec(100.0, 0, "major", width=1.0, duration_s=3.0, seed=1))
    assert np.array_equal(mono[:, 0], mono[:, 1])
    assert np.abs(wide[:, 0] - wide[:, 1]).max() > 0.05


def test_gain_and_density_make_quiet_and_loud_tracks() -> None:
    quiet = render(TrackSpec(120.0, 2, "minor", density=0.1, gain_db=-9.0, duration_s=4.0, seed=2))
    loud = render(TrackSpec(120.0, 2, "minor", density=0.95, duration_s=4.0, seed=2))
    rms = lambda x: float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
    assert rms(loud) > 2.0 * rms(quiet)


@pytest.mark.parametrize("kwargs", [
    dict(mode="dorian"), dict(key=12), dict(brightness=1.5), dict(tempo_bpm=20.0),
    dict(style="polka"), dict(gain_db=3.0),
])
def test_spec_validation(kwargs: dict) -> None:
    base = dict(tempo_bpm=120.0, key=0, mode="major")
    with pytest.raises(ValueError):
        TrackSpec(**{**base, **kwargs})


@pytest.mark.parametrize("tempo,style", [(70.0, "downtempo"), (99.0, "downtempo"),
                                         (124.0, "four"), (150.0, "four"), (174.0, "dnb")])
def test_style_follows_tempo(tempo: float, style: str) -> None:
    assert TrackSpec(tempo, 0, "minor").resolved_style == style


# --------------------------------------------------------------------------- library plan

def test_default_plan_covers_the_whole_space() -> None:
    tracks = plan_library()
    specs = [t.spec for t in tracks]
    assert len(tracks) == 48
    tempos = np.array([s.tempo_bpm for s in specs])
    assert tempos.min() < 75 and tempos.max() > 170 and np.all((tempos >= 70) & (tempos <= 175))
    assert Counter(s.key for s in specs) == {k: 4 for k in range(12)}
    assert Counter(s.mode for s in specs) == {"major": 24, "minor": 24}
    ducked = [s.ducking for s in specs if s.ducking > 0]
    assert len(ducked) >= 16 and min(ducked) < 0.35 and max(ducked) > 0.8
    assert sum(s.width == 0.0 for s in specs) >= 4 and max(s.width for s in specs) > 0.9
    assert min(s.density for s in specs) < 0.2 and max(s.density for s in specs) > 0.9
    # the (tempo, brightness) plane is covered: dark and bright tracks in every tempo third
    for third in np.array_split(np.argsort(tempos), 3):
        bright = [specs[i].brightness for i in third]
        assert min(bright) < 0.3 and max(bright) > 0.7
    # 12 artists with one or two releases each, ids stable and distinct
    releases_by_artist: dict[str, set[str]] = {}
    for t in tracks:
        releases_by_artist.setdefault(t.artist, set()).add(t.release)
    assert len(releases_by_artist) == 12
    assert all(1 <= len(r) <= 2 for r in releases_by_artist.values())
    assert len({t.recording_mbid for t in tracks}) == 48
    assert len({t.artist_mbid for t in tracks}) == 12
    assert plan_library() == tracks  # deterministic


# --------------------------------------------------------------------------- built library

def test_files_layout_and_tags(small_library: tuple[Path, list]) -> None:
    out, tracks = small_library
    assert len(tracks) == SMALL["n_tracks"]
    for t in tracks:
        assert t.path.is_file()
        rel = t.path.relative_to(out)
        assert rel.parts[0] == t.artist and rel.parts[1] == t.release
        assert rel.name == f"{t.track_number:02d} - {t.title}.flac"
        info = sf.info(str(t.path))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
        assert abs(info.duration - SMALL["duration_s"]) < 1e-3
        tags = FLAC(str(t.path))
        assert tags["ARTIST"] == [t.artist]
        assert tags["TITLE"] == [t.title]
        assert tags["ALBUM"] == [t.release]
        assert tags["TRACKNUMBER"] == [str(t.track_number)]
        assert tags["MUSICBRAINZ_TRACKID"] == [t.recording_mbid]
        assert tags["MUSICBRAINZ_ARTISTID"] == [t.artist_mbid]
        assert tags["MUSICBRAINZ_ALBUMID"] == [t.release_mbid]
        for mbid in (t.recording_mbid, t.artist_mbid, t.release_mbid):
            assert uuid.UUID(mbid).version == 5


def test_audio_matches_the_spec_render(small_library: tuple[Path, list]) -> None:
    _, tracks = small_library
    t = tracks[0]
    data, _ = sf.read(str(t.path), dtype="float32")
    expected = render(t.spec)
    assert np.abs(data - expected).max() < 2.0 / 32768  # 16-bit quantisation only


def test_ground_truth_json_is_consistent(small_library: tuple[Path, list]) -> None:
    out, tracks = small_library
    records = load_ground_truth(out)
    assert records == json.loads((out / GROUND_TRUTH_FILE).read_text())
    assert len(records) == len(tracks)
    for rec, t in zip(records, tracks):
        assert (out / rec["path"]).resolve() == t.path.resolve()
        assert rec["artist"] == t.artist and rec["title"] == t.title and rec["release"] == t.release
        assert rec["recording_mbid"] == t.recording_mbid
        assert rec["artist_mbid"] == t.artist_mbid and rec["release_mbid"] == t.release_mbid
        assert rec["tempo_bpm"] == t.spec.tempo_bpm
        assert rec["key"] == PITCH_NAMES[t.spec.key] and rec["mode"] == t.spec.mode
        for name in ("brightness", "density", "width", "ducking"):
            assert rec[name] == getattr(t.spec, name)
        assert rec["duration_s"] == SMALL["duration_s"]


def test_rebuild_is_idempotent_and_deterministic(small_library: tuple[Path, list],
                                                 tmp_path: Path) -> None:
    out, tracks = small_library
    before = {t.path: (t.path.stat().st_mtime_ns, t.path.read_bytes()) for t in tracks}
    again = build_demo_library(out, **SMALL)
    assert again == tracks
    assert {t.path: (t.path.stat().st_mtime_ns, t.path.read_bytes()) for t in tracks} == before

    # a second library from the same seed is byte-identical
    twin = build_demo_library(tmp_path / "twin", **SMALL)
    for a, b in zip(tracks, twin):
        assert a.path.relative_to(out) == b.path.relative_to(tmp_path / "twin")
        assert a.path.read_bytes() == b.path.read_bytes()

    # a deleted file is re-rendered, identical to before; the others are left alone
    victim = twin[1].path
    original = victim.read_bytes()
    untouched = twin[0].path.stat().st_mtime_ns
    victim.unlink()
    build_demo_library(tmp_path / "twin", **SMALL)
    assert victim.read_bytes() == original
    assert twin[0].path.stat().st_mtime_ns == untouched
