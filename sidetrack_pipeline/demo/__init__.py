"""Demo material: a synthesized, fully-tagged electronic music library with known ground truth.

`synth` renders one track from a `TrackSpec`; `library` lays out a whole tagged FLAC library
(artists, releases, MusicBrainz-style ids) plus `ground_truth.json` for accuracy checks.
"""
