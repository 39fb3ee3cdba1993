-- One row per analysed track: the low-level audio features of its local file.
select
    track_id,
    content_hash,
    analyzer_version,
    duration_s,
    bpm,
    bpm_confidence,
    key,
    mode,
    key_confidence,
    loudness_lufs,
    loudness_range_lu,
    spectral_centroid_hz,
    onset_rate,
    stereo_width,
    lr_correlation,
    pumpiness,
    danceability,
    dynamic_complexity,
    analyzed_at
from {{ source('sidetrack', 'features') }}
