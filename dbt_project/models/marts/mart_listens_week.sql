-- Listening volume per user × local ISO week (all listens, scored or not).
with listens as (
    select * from {{ ref('int_listens_local') }}
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
)

select
    listens.user_id,
    users.user_name,
    listens.week,
    count(*) as listens,
    count(distinct listens.track_id) as unique_tracks,
    count(distinct listens.artist_id) as unique_artists
from listens
inner join users on users.user_id = listens.user_id
group by listens.user_id, users.user_name, listens.week
