"""One real batch over a library of bad and good files: every bad file gets its own clear
error, every good file (any format, any channel layout, silent, 3 hours long) is analysed.

Then the `sidetrack analyze` command over a few of them: JSON lines in input order, exit 1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sidetrack_pipeline.audio.batch import analyze_many
from tests.test_decode import SR, truncate, write_audio, write_long_wav

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")

LONG_WINDOW_S = 30.0  # MAX_ANALYSIS_SECONDS for this batch: keeps the 3-hour file quick

# name -> the phrase its error must contain
BAD = {
    "empty.flac": "empty file (0 bytes)",
    "missing.wav": "file not found",
    "cut.flac": "truncated",
    "cut.mp3": "truncated",
    "cut.wav": "truncated WAV",
    "random-bytes.mp3": "no known audio header",
    "readme.flac": "the file is text, not audio",
}
# name -> (sample_rate, channels) the features must report
GOOD = {
    "stereo.wav": (SR, 2), "stereo.flac": (SR, 2), "stereo.aiff": (SR, 2),
    "stereo.ogg": (SR, 2), "stereo.opus": (48000, 2), "stereo.mp3": (SR, 2),
    "stereo.m4a": (SR, 2), "phone-8k-mono.wav": (8000, 1), "surround-5.1.wav": (SR, 6),
    "silence.flac": (SR, 2), "three-hours.wav": (8000, 1),
}


def build_library(root: Path) -> list[Path]:
    """Every case, bad and good, interleaved (so bad files sit between good ones in the pool)."""
    for name in GOOD:
        path = root / name
        if name.startswith("phone"):
            write_audio(path, seconds=6.0, sr=8000, channels=1)
        elif name.startswith("surround"):
            write_audio(path, seconds=6.0, channels=6)
        elif name.startswith("silence"):
            write_audio(path, data=np.zeros((SR * 6, 2), np.float32))
        elif name.startswith("three-hours"):
            write_long_wav(path)
        else:
            write_audio(path, seconds=6.0)
    (root / "empty.flac").write_bytes(b"")
    for name in ("cut.flac", "cut.mp3", "cut.wav"):
        truncate(write_audio(root / name, seconds=8.0), keep=0.5)
    (root / "random-bytes.mp3").write_bytes(np.random.default_rng(7).bytes(64_000))
    (root / "readme.flac").write_text("This folder holds my mixes.\n" * 40)
    names = list(GOOD)
    for i, bad in enumerate(BAD):
        names.insert(2 * i + 1, bad)
    return [root / name for name in names]


def test_one_batch_of_bad_and_good_files(tmp_path: Path) -> None:
    paths = build_library(tmp_path)
    results = list(analyze_many([str(p) for p in paths], workers=2, ordered=True,
                                max_seconds=LONG_WINDOW_S))
    assert [r.path for r in results] == [str(p) for p in paths]
    by_name = {Path(r.path).name: r for r in results}

    for name, phrase in BAD.items():
        result = by_name[name]
        assert result.features is None, name
        assert phrase in result.error, (name, result.error)
        assert name in result.error  # the message names the file

    for name, (sample_rate, channels) in GOOD.items():
        result = by_name[name]
        assert result.error is None, (name, result.error)
        features = result.features
        assert (features["sample_rate"], features["channels"]) == (sample_rate, channels), name
        json.dumps(features, allow_nan=False)  # no NaN or infinity anywhere
        if name != "three-hours.wav":
            assert features["duration_s"] == pytest.approx(6.0, abs=0.06), name
            assert features["extra"]["excerpt_s"] == pytest.approx(6.0, abs=0.06), name

    long = by_name["three-hours.wav"].features
    assert long["duration_s"] == pytest.approx(10800.0)
    assert long["extra"]["excerpt_s"] == pytest.approx(LONG_WINDOW_S)
    assert long["extra"]["excerpt_offset_s"] == pytest.approx((10800.0 - LONG_WINDOW_S) / 2)

    silent = by_name["silence.flac"].features
    assert silent["bpm"] is None and silent["key"] is None

    assert by_name["stereo.wav"].features["bpm"] == pytest.approx(120.0, rel=0.05)


def test_cli_prints_json_lines_in_input_order_and_exits_1(tmp_path: Path) -> None:
    good = write_audio(tmp_path / "good.flac", seconds=6.0)
    other = write_audio(tmp_path / "other.mp3", seconds=6.0)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    files = [str(good), str(empty), str(other)]
    proc = subprocess.run(
        [sys.executable, "-c", "from sidetrack_pipeline.cli import app; app()", "analyze",
         *files, "--json", "--workers", "2", "--excerpt-seconds", "4"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]  # nothing but JSON
    assert [line["path"] for line in lines] == files
    assert set(lines[1]) == {"path", "error"} and "empty file" in lines[1]["error"]
    for line in (lines[0], lines[2]):
        assert "error" not in line
        assert line["extra"]["excerpt_s"] == pytest.approx(4.0, abs=0.01)
        assert {"bpm", "key", "loudness_lufs", "duration_s", "channels"} <= set(line)
