"""A batch with broken files analyses every good file and records an error for each bad one."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from sidetrack_pipeline.audio.batch import analyze_many


def test_bad_files_get_errors_and_good_files_are_analysed(tmp_path):
    sr = 44100
    t = np.arange(sr * 6) / sr
    beat = (np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 30))   # a 120 BPM thump
    good = tmp_path / "good.flac"
    sf.write(good, np.stack([beat, beat], axis=1).astype("float32") * 0.5, sr)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    noise = tmp_path / "renamed.mp3"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good.read_bytes()[:2000])

    results = {r.path: r for r in analyze_many([str(p) for p in (empty, good, noise, truncated)], workers=2)}
    assert len(results) == 4
    assert results[str(good)].error is None and results[str(good)].features["duration_s"] > 5
    for bad in (empty, noise, truncated):
        assert results[str(bad)].features is None
        assert results[str(bad)].error, bad
