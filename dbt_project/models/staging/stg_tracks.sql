-- One row per track, with its artist's name and its release's title.
with tracks as (
    select * from {{ source('sidetrack', 'track') }}
),

artists as (
    select * from {{ source('sidetrack', 'artist') }}
),

releases as (
    select * from {{ source('sidetrack', 'release') }}
)

select
    tracks.track_id,
    tracks.track_key,
    tracks.mbid as track_mbid,
    tracks.title as track_title,
    tracks.artist_id,
    artists.name as artist_name,
    artists.mbid as artist_mbid,
    tracks.release_id,
    releases.title as release_title,
    tracks.duration_ms,
    tracks.local_path,
    tracks.local_path is not null as has_local_file
from tracks
inner join artists on artists.artist_id = tracks.artist_id
left join releases on releases.release_id = tracks.release_id
