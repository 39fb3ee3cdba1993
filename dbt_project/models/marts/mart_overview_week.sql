-- Weekly overview per user × local ISO week: volume, variety, spread in sound, mood momentum.
--
-- listens, unique_tracks, unique_artists, artist_entropy and embedding_dispersion come from the
-- weekly table int_overview_user_week (definitions there). momentum_index: mean of |momentum|
-- over the axes of mart_mood_week that have a momentum that week (null when none has, e.g. the
-- first observed week); it depends on earlier weeks (the EMA), so this mart is a full-history
-- table rebuilt on every run from the small weekly tables.
with weekly as (
    select * from {{ ref('int_overview_user_week') }}
),

users as (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
),

momentum as (
    select user_id, week, avg(abs(momentum)) as momentum_index
    from {{ ref('mart_mood_week') }}
    where momentum is not null
    group by user_id, week
)

select
    weekly.user_id,
    users.user_name,
    weekly.week,
    weekly.listens,
    weekly.unique_tracks,
    weekly.unique_artists,
    weekly.artist_entropy,
    weekly.embedding_dispersion,
    momentum.momentum_index
from weekly
inner join users on users.user_id = weekly.user_id
left join momentum on momentum.user_id = weekly.user_id and momentum.week = weekly.week
