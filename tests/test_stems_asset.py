"""USE_DEMUCS: the stem-pumpiness asset separates analysed tracks with the user's Demucs weights
(a small random-weight HTDemucs in the package's format, for this test only)."""

from __future__ import annotations

import dagster as dg
import soundfile as sf
import torch

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.defs.assets.stems import stem_pumpiness_scores
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource
from sidetrack_pipeline.demo.synth import TrackSpec, render
from sidetrack_pipeline.scoring import store


def _small_htdemucs(path):
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state

    torch.manual_seed(0)
    net = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=8, depth=2,
                   t_layers=1, t_heads=2, nfft=1024, segment=2)
    args, kwargs = net._init_args_kwargs
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs,
                "state": get_state(net, None, half=True), "training_args": {}}, path)


def test_off_by_default_and_on_with_weights(db_url, tmp_path, monkeypatch):
    audio = tmp_path / "t.flac"
    sf.write(audio, render(TrackSpec(tempo_bpm=124, key=0, mode="minor", ducking=0.8, duration_s=6, seed=1)), 44100)
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') returning artist_id")
        cur.execute("""insert into track (track_key, name_key, title, artist_id, local_path, fingerprint)
                       values ('k', 'k', 'T', %s, %s, 'h') returning track_id""", (cur.fetchone()[0], str(audio)))
        store.save_features(cur, cur.fetchone()[0], "h", {"analyzer_version": "x", "pumpiness": 0.5, "extra": {}})
    resources = {"database": DatabaseResource(url=db_url), "device": DeviceResource(preference="cpu")}

    off = dg.materialize([stem_pumpiness_scores], resources=resources)
    assert off.asset_materializations_for_node("stem_pumpiness_scores")[0].metadata["enabled"].value is False

    weights = tmp_path / "small-htdemucs.th"
    _small_htdemucs(weights)
    monkeypatch.setenv("USE_DEMUCS", "true")
    monkeypatch.setenv("SIDETRACK_DEMUCS_CHECKPOINT", str(weights))
    on = dg.materialize([stem_pumpiness_scores], resources=resources)
    assert on.asset_materializations_for_node("stem_pumpiness_scores")[0].metadata["separated_this_run"].value == 1
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select extra from features")
        extra = cur.fetchone()[0]
    assert 0.0 <= extra["pumpiness_stems"] <= 1.0 and extra["pumpiness_stems_hash"] == "h"
    again = dg.materialize([stem_pumpiness_scores], resources=resources)
    assert again.asset_materializations_for_node("stem_pumpiness_scores")[0].metadata["separated_this_run"].value == 0
