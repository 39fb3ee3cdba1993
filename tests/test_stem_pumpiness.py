"""Pumpiness from stems separates ducked from dry and grows with ducking depth."""

from __future__ import annotations

import numpy as np
import pytest

from sidetrack_pipeline.audio.stem_pumpiness import stem_pumpiness

SR = 22050


def _stems(depth: float, bpm: float = 124.0, seconds: float = 12.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    beat = 60.0 / bpm
    phase = t % beat
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-phase * 40)) * phase) * np.exp(-phase * 18)
    hats = rng.standard_normal(t.size) * 0.05 * np.exp(-((t + beat / 2) % beat) * 60)
    # side-chain gain: dips by `depth` at each kick, recovers over ~a third of a beat
    gain = 1.0 - depth * np.exp(-phase / (beat / 6))
    bass = 0.5 * np.sin(2 * np.pi * 55 * t) * gain
    pad = 0.2 * np.sin(2 * np.pi * 220 * t + 0.3 * np.sin(2 * np.pi * 0.5 * t)) * gain
    stereo = lambda x: np.stack([x, x]).astype(np.float32)  # noqa: E731  (Demucs stems are (2, n))
    return {"drums": stereo(kick + hats), "bass": stereo(bass), "other": stereo(pad)}


def test_ducked_scores_above_dry_and_grows_with_depth():
    scores = [stem_pumpiness(_stems(d), SR)[0] for d in (0.0, 0.25, 0.5, 0.75, 0.95)]
    assert scores[0] < 0.1
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] > 0.6   # the 30-ms RMS window smooths the deepest point a little


def test_uses_every_kick_it_finds():
    score, kicks = stem_pumpiness(_stems(0.6, bpm=128, seconds=10), SR)
    assert 18 <= kicks <= 21 and 0.4 < score < 0.8


def test_needs_drums_and_music():
    with pytest.raises(ValueError, match="drums"):
        stem_pumpiness({"bass": np.zeros((2, SR))}, SR)
    with pytest.raises(ValueError, match="bass"):
        stem_pumpiness({"drums": np.zeros((2, SR))}, SR)
