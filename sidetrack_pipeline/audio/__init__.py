"""Audio decoding and feature extraction.

`decode.load_audio` turns a file into stereo float32 (raising `AudioDecodeError` on bad
input); `features.analyze_file` / `analyze_signal` compute the `features` row; `pumpiness`
measures side-chain ducking.
"""

from sidetrack_pipeline.audio.decode import AudioDecodeError, Decoded, load_audio

__all__ = ["AudioDecodeError", "Decoded", "load_audio"]
