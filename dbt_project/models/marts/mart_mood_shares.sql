-- Share of each week's listens per dominant lexicon mood (for a streamgraph).
--
-- A track's dominant mood is its highest-scoring word in lexicon_scores for method
-- 'zeroshot-musicnn-v1' (ties: alphabetically first word). Listens of tracks without lexicon
-- scores are left out of both numerator and denominator; shares of a user-week sum to 1.
with listens as (
    select user_id, track_id, week from {{ ref('int_listens_local') }}
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

dominant as (
    select distinct on (track_id)
        track_id,
        word as mood
    from {{ source('sidetrack', 'lexicon_scores') }}
    where method = 'zeroshot-musicnn-v1'
    order by track_id, value desc, word
),

counted as (
    select
        listens.user_id,
        listens.week,
        dominant.mood,
        count(*) as listens
    from listens
    inner join dominant on dominant.track_id = listens.track_id
    group by listens.user_id, listens.week, dominant.mood
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
