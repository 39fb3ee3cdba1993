-- One row per user: listening totals and coverage by mood scores.
with users as (
    select user_id, user_name, timezone from {{ ref('stg_users') }}
),

listens as (
    select * from {{ ref('int_listens_local') }}
),

analysed as (
    select distinct track_id from {{ ref('int_track_axis_scores') }}
),

per_user as (
    select
        listens.user_id,
        count(*) as listens,
        count(distinct listens.track_id) as unique_tracks,
        count(distinct listens.artist_id) as unique_artists,
        count(distinct listens.week) as weeks,
        min(listens.week) as first_week,
        max(listens.week) as last_week,
        count(distinct analysed.track_id) as analysed_tracks
    from listens
    left join analysed on analysed.track_id = listens.track_id
    group by listens.user_id
)

select
    users.user_id,
    users.user_name,
    users.timezone,
    coalesce(per_user.listens, 0) as listens,
    coalesce(per_user.unique_tracks, 0) as unique_tracks,
    coalesce(per_user.unique_artists, 0) as unique_artists,
    coalesce(per_user.weeks, 0) as weeks,
    per_user.first_week,
    per_user.last_week,
    coalesce(per_user.analysed_tracks, 0) as analysed_tracks
from users
left join per_user on per_user.user_id = users.user_id
