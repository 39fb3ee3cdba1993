"""Side-chain pumping: grows with the ducking depth, separates ducked from dry, survives kicks
that spill into the body band (real kicks do), and handles mono / short input."""

from __future__ import annotations

import numpy as np
import pytest

from sidetrack_pipeline.audio.pumpiness import pumpiness
from sidetrack_pipeline.demo.synth import TrackSpec, render

SR = 44100
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _raw(audio: np.ndarray) -> float:
    return pumpiness(audio, SR)[1]


@pytest.mark.parametrize("tempo,width", [(124.0, 0.5), (140.0, 0.0), (90.0, 0.8),
                                         (172.0, 0.3)])
def test_raw_grows_monotonically_with_ducking_depth(tempo: float, width: float) -> None:
    raws, scores = [], []
    for depth in DEPTHS:
        spec = TrackSpec(tempo, 2, "minor", brightness=0.5, density=0.6, width=width,
                         ducking=depth, duration_s=12.0, seed=3)
        score, raw = pumpiness(render(spec), SR)
        raws.append(raw)
        scores.append(score)
    assert all(a < b for a, b in zip(raws, raws[1:])), raws
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[-1] > scores[0]


def test_full_ducking_scores_well_above_dry() -> None:
    dry, ducked = (pumpiness(render(TrackSpec(124.0, 2, "minor", density=0.5, width=0.5,
                                             ducking=d, duration_s=12.0, seed=3)), SR)[0]
                   for d in (0.0, 0.9))
    assert ducked > dry + 0.5


@pytest.mark.parametrize("tempo", [85.0, 170.0])
def test_pumpiness_ducked_above_dry_in_backbeat_styles(tempo: float) -> None:
    def raw(depth: float) -> float:
        spec = TrackSpec(tempo, 5, "major", density=0.6, ducking=depth, duration_s=12.0, seed=4)
        return _raw(render(spec))
    assert raw(0.7) > raw(0.0) + 0.1


def _spill_mix(depth: float, width: float = 0.6, seconds: float = 12.0) -> np.ndarray:
    """Four-on-the-floor with a 'real' kick - sub sweep plus a bright beater click and a
    mid-range body that spill into 300-2000 Hz - over sustained, partly wide chords whose
    level is ducked by `depth` after every kick."""
    rng = np.random.default_rng(11)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    beat = 60.0 / 126.0
    chords = np.zeros((n, 2))
    for f0, pan in ((220.0, -width), (277.2, width), (329.6, 0.0), (110.0, 0.0)):
        tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.random() * 6.28) / k for k in range(1, 6))
        chords[:, 0] += tone * (1.0 - pan) / 2
        chords[:, 1] += tone * (1.0 + pan) / 2
    kick_n = int(0.3 * SR)
    tk = np.arange(kick_n) / SR
    sub = np.sin(2 * np.pi * np.cumsum(50 + 120 * np.exp(-tk / 0.03)) / SR) * np.exp(-tk / 0.15)
    click = rng.standard_normal(kick_n) * np.exp(-tk / 0.004)
    knock = np.sin(2 * np.pi * 700 * tk) * np.exp(-tk / 0.04)
    kick = sub + 0.5 * click + 0.6 * knock
    drums = np.zeros(n)
    gain = np.ones(n)
    release = int(0.55 * beat * SR)
    curve = 1.0 - depth * (1.0 - np.arange(release) / release) ** 2
    for b in range(int(seconds / beat)):
        start = int(round(b * beat * SR))
        m = min(kick_n, n - start)
        drums[start:start + m] += kick[:m]
        r = min(release, n - start)
        gain[start:start + r] = np.minimum(gain[start:start + r], curve[:r])
    mix = chords / np.abs(chords).max() * 0.5 * gain[:, None] + 0.8 * drums[:, None]
    return (mix / np.abs(mix).max() * 0.9).astype(np.float32)


def test_kick_spill_does_not_hide_the_ducking() -> None:
    raws = [_raw(_spill_mix(d)) for d in DEPTHS]
    assert all(a < b for a, b in zip(raws, raws[1:])), raws
    assert raws[-1] > raws[0] + 0.15


def test_side_channel_helps_when_the_mix_is_wide() -> None:
    wide = _spill_mix(0.8, width=0.8)
    mid_only = wide.mean(axis=1)
    dry_wide = _spill_mix(0.0, width=0.8)
    # mono analysis of the same mix sees less of the dip than the stereo analysis does
    assert _raw(wide) - _raw(dry_wide) > pumpiness(mid_only, SR)[1] - _raw(dry_wide.mean(axis=1))


def test_pumpiness_accepts_mono_and_short_input() -> None:
    x = render(TrackSpec(124.0, 0, "minor", ducking=0.8, duration_s=8.0, seed=5))
    assert pumpiness(x[:, 0], SR) == pumpiness(np.repeat(x[:, :1], 2, axis=1), SR)
    assert pumpiness(x[: SR // 2], SR) == (0.0, 0.0)  # too few kicks to judge
    side = (x[:, 0] - x[:, 1]) / 2
    assert pumpiness(x.mean(axis=1), SR, side=side) == pytest.approx(pumpiness(x, SR))


def test_no_kicks_no_pumping() -> None:
    t = np.arange(SR * 6) / SR
    pad = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert pumpiness(pad, SR) == (0.0, 0.0)
    assert pumpiness(np.zeros(SR * 6, dtype=np.float32), SR) == (0.0, 0.0)
