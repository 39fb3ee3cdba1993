-- One row per listen (play), as imported.
select
    listen_id,
    user_id,
    track_id,
    played_at,
    source,
    recording_msid,
    import_id
from {{ source('sidetrack', 'listen') }}
