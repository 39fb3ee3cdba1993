"""The learned_embeddings asset, materialised by Dagster: musicnn with tags, a user-weights model
(OpenL3 from a file in torchopenl3's format, random weights for this test only), idempotent."""

from __future__ import annotations

import dagster as dg
import soundfile as sf
import torch

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.defs.assets.embeddings import learned_embeddings
from sidetrack_pipeline.defs.resources import DatabaseResource, DeviceResource
from sidetrack_pipeline.demo.synth import TrackSpec, render


def _library(db_url, tmp_path):
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') returning artist_id")
        artist = cur.fetchone()[0]
        for i, tempo in enumerate((96, 140)):
            path = tmp_path / f"t{i}.flac"
            sf.write(path, render(TrackSpec(tempo_bpm=tempo, key=i, mode="major", duration_s=7, seed=i)), 44100)
            cur.execute("""insert into track (track_key, name_key, title, artist_id, local_path, fingerprint)
                           values (%s, %s, %s, %s, %s, %s)""", (f"k{i}", f"k{i}", f"T{i}", artist, str(path), f"h{i}"))


def _counts(db_url):
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select model, count(*), min(dim) from embeddings group by model order by model")
        vectors = cur.fetchall()
        cur.execute("select model, count(*) from model_tags group by model")
        return vectors, cur.fetchall()


def test_musicnn_and_openl3_embeddings(db_url, tmp_path, monkeypatch, models_cache):
    from torchopenl3.models import PytorchOpenl3

    _library(db_url, tmp_path)
    weights = tmp_path / "torchopenl3_mel128_music_512.pth.tar"
    torch.manual_seed(0)
    torch.save(PytorchOpenl3(content_type="music", input_repr="mel128", embedding_size=512).state_dict(), weights)
    monkeypatch.setenv("SIDETRACK_OPENL3_WEIGHTS", str(weights))
    monkeypatch.setenv("SIDETRACK_MODELS_DIR", str(models_cache))
    monkeypatch.setenv("EMBEDDING_MODEL", "msd-musicnn,openl3")
    resources = {"database": DatabaseResource(url=db_url), "device": DeviceResource(preference="auto")}

    first = dg.materialize([learned_embeddings], resources=resources)
    assert first.success
    meta = first.asset_materializations_for_node("learned_embeddings")[0].metadata
    assert meta["embedded_this_run"].value == 4 and meta["errors_this_run"].value == 0
    vectors, tags = _counts(db_url)
    assert vectors == [("msd-musicnn", 2, 400), ("msd-musicnn-mean", 2, 200), ("openl3", 2, 512)]
    assert tags == [("msd-musicnn", 100)]

    again = dg.materialize([learned_embeddings], resources=resources)
    assert again.asset_materializations_for_node("learned_embeddings")[0].metadata["embedded_this_run"].value == 0
    assert _counts(db_url) == (vectors, tags)
