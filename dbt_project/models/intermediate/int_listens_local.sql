-- Each listen in its listener's local time.
--
-- `played_at at time zone <IANA zone>` converts the instant with the offset in force at that
-- instant, so daylight-saving changes are handled by PostgreSQL's tz database (no fixed offsets).
-- `week` is the Monday (local date) of the ISO week the listen falls in.
with listens as (
    select * from {{ ref('stg_listens') }}
),

users as (
    select * from {{ ref('stg_users') }}
),

tracks as (
    select track_id, artist_id from {{ ref('stg_tracks') }}
),

localised as (
    select
        listens.listen_id,
        listens.user_id,
        listens.track_id,
        tracks.artist_id,
        listens.source,
        listens.played_at,
        users.timezone,
        listens.played_at at time zone users.timezone as played_at_local
    from listens
    inner join users on users.user_id = listens.user_id
    inner join tracks on tracks.track_id = listens.track_id
)

select
    listen_id,
    user_id,
    track_id,
    artist_id,
    source,
    played_at,
    timezone,
    played_at_local,
    played_at_local::date as local_date,
    date_trunc('week', played_at_local)::date as week
from localised
