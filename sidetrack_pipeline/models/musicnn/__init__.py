"""musicnn (Pons & Serra, ISMIR-LBD 2019) ported to PyTorch, with its original MSD and MTT
weights converted from the TF1 checkpoints in the `musicnn==0.1.0` wheel (ISC licence).

    from sidetrack_pipeline.models.musicnn import embed_file
    result = embed_file("song.flac", "msd-musicnn")   # tags, 200-d mean, 400-d unit vector

Modules: `checkpoint` (TF1 checkpoint reader, no TensorFlow), `features` (log-mel input, no
librosa), `model` (the network + TF variable mapping), `fetch` (wheel -> cache), `embed`.
"""

from sidetrack_pipeline.models.musicnn.embed import (
    EmbeddingResult, embed_file, embed_signal, get_model)
from sidetrack_pipeline.models.musicnn.fetch import (
    ModelFetchError, MusicnnModel, fetch_musicnn, load_converted)
from sidetrack_pipeline.models.musicnn.model import MusiCNN

__all__ = ["EmbeddingResult", "ModelFetchError", "MusiCNN", "MusicnnModel", "embed_file",
           "embed_signal", "fetch_musicnn", "get_model", "load_converted"]
