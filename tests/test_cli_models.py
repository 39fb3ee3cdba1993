"""`sidetrack models fetch|list` and `sidetrack embed --json` with the real musicnn weights."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from sidetrack_pipeline.cli import app
from sidetrack_pipeline.demo.synth import TrackSpec, render


def test_fetch_from_a_given_wheel_then_list(tmp_path, monkeypatch, musicnn_wheel):
    monkeypatch.setenv("SIDETRACK_MODELS_DIR", str(tmp_path / "models"))
    runner = CliRunner()
    def state(output: str, name: str) -> str:
        line = next(l for l in output.splitlines() if l.strip().startswith(name + " "))
        return line.split()[1]

    before = runner.invoke(app, ["models", "list"]).output
    assert state(before, "msd-musicnn") == "not" and state(before, "mtt-musicnn") == "not"
    fetched = runner.invoke(app, ["models", "fetch", "--wheel", str(musicnn_wheel)])
    assert fetched.exit_code == 0, fetched.output
    assert "msd-musicnn" in fetched.output and "mtt-musicnn" in fetched.output
    listed = runner.invoke(app, ["models", "list"]).output
    assert state(listed, "msd-musicnn") == "ready" and state(listed, "mtt-musicnn") == "ready"


def test_embed_json(tmp_path, monkeypatch, models_cache):
    monkeypatch.setenv("SIDETRACK_MODELS_DIR", str(models_cache))
    path = tmp_path / "track.flac"
    sf.write(path, render(TrackSpec(tempo_bpm=128, key=9, mode="minor", duration_s=8, seed=3)), 44100)
    result = CliRunner().invoke(app, ["embed", str(path), "--model", "mtt-musicnn", "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["model"] == "mtt-musicnn" and out["dim"] == 400 and len(out["embedding"]) == 400
    assert len(out["tags"]) == 50 and all(0 <= p <= 1 for p in out["tags"].values())
    assert abs(np.linalg.norm(out["embedding"]) - 1) < 1e-4


def test_embed_reports_undecodable_file(tmp_path, monkeypatch, models_cache):
    monkeypatch.setenv("SIDETRACK_MODELS_DIR", str(models_cache))
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio at all")
    result = CliRunner().invoke(app, ["embed", str(bad), "--json"])
    assert result.exit_code == 1 and "error:" in result.output
