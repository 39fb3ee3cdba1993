-- One row per hand-set mood label of a user for a track.
select
    label_id,
    user_id,
    track_id,
    axis,
    value,
    source as label_source,
    created_at
from {{ source('sidetrack', 'labels_user') }}
