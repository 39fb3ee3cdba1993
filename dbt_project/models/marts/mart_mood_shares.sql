-- Share of each week's listens per dominant lexicon mood (for a streamgraph).
--
-- A track's dominant mood is its highest-scoring word in lexicon_scores for method
-- 'zeroshot-musicnn-v1' (ties: alphabetically first word; int_track_profile.mood). Listens of
-- tracks without lexicon scores are left out of both numerator and denominator; shares of a
-- user-week sum to 1.
--
-- Weekly, incremental (strategy 'user_week', macros/weekly.sql): a week's rows depend only on
-- that week's listens (int_user_week_tracks) and the tracks' current lexicon scores.
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          post_hook="{{ weekly_analyze() }}",
          indexes=[{'columns': ['user_id', 'week', 'mood'], 'unique': true}]) }}

with tracks as (
    select *
    from {{ dirty_rows(ref('int_user_week_tracks')) }} as uwt
),

users as (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
),

counted as (
    select
        tracks.user_id,
        tracks.week,
        profile.mood,
        sum(tracks.listens)::bigint as listens
    from tracks
    inner join {{ ref('int_track_profile') }} as profile on profile.track_id = tracks.track_id
    where profile.mood is not null
    group by tracks.user_id, tracks.week, profile.mood
)

select
    counted.user_id,
    users.user_name,
    counted.week,
    counted.mood,
    counted.listens,
    sum(counted.listens) over (partition by counted.user_id, counted.week) as week_listens,
    counted.listens::double precision
        / sum(counted.listens) over (partition by counted.user_id, counted.week) as share
from counted
inner join users on users.user_id = counted.user_id
