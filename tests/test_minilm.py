"""MiniLM text embeddings come from the package that ships them, with no network at all."""

from __future__ import annotations

import socket

import numpy as np

from sidetrack_pipeline.models import minilm


def test_minilm_loads_offline_and_embeds_meaningfully(monkeypatch):
    attempts = []
    real_connect = socket.socket.connect

    def guarded(self, address, *args, **kwargs):
        if self.family == socket.AF_UNIX or str(address[0]).startswith(("127.", "::1")):
            return real_connect(self, address, *args, **kwargs)
        attempts.append(address)
        raise ConnectionRefusedError(f"network access blocked in tests: {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    minilm.load_text_model.cache_clear()

    vectors = minilm.embed_texts(["techno", "electronic dance music", "violin sonata",
                                  "a melancholic song", "a sad song"])
    assert vectors.shape == (5, minilm.DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.1      # techno is nearer to EDM than to a violin sonata
    assert sim[3, 4] > sim[3, 0] + 0.1      # a melancholic song is nearer to a sad one than to techno
    assert minilm.embed_texts([]).shape == (0, minilm.DIM)
    assert attempts == []
