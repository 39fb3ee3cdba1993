-- Weekly overview per user × local ISO week: volume, variety, spread in sound, mood momentum.
--
-- artist_entropy: Shannon entropy (natural log) of the week's listens over artists,
--   H = -sum_a p_a ln p_a with p_a = listens of artist a / listens (0 for a single artist).
-- embedding_dispersion: mean Euclidean distance of the week's listens' 'mir-v1' track vectors from
--   their listen-weighted centroid (each listen counts once; listens of tracks without a vector
--   are left out; null when none has one). pgvector's avg() and <-> (L2): fast, but the centroid
--   is stored as float4 and the distance is summed in float4, so values agree with a float64
--   computation to ~1e-6 relative, not 1e-9 (an exact version over unnested components took
--   15-20 s of the 1M-listen build).
-- momentum_index: mean of |momentum| over the axes of mart_mood_week that have a momentum that
--   week (null when none has, e.g. the first observed week).
with listens as (
    select user_id, week, track_id, artist_id from {{ ref('int_listens_local') }}
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

volume as (
    select
        user_id,
        week,
        count(*) as listens,
        count(distinct track_id) as unique_tracks,
        count(distinct artist_id) as unique_artists
    from listens
    group by user_id, week
),

artist_counts as (
    select user_id, week, artist_id, count(*)::double precision as n
    from listens
    group by user_id, week, artist_id
),

entropy as (
    select
        user_id,
        week,
        -sum((n / total) * ln(n / total)) as artist_entropy
    from (
        select *, sum(n) over (partition by user_id, week) as total from artist_counts
    ) as shares
    group by user_id, week
),

vectors as (
    select track_id, embedding
    from {{ source('sidetrack', 'embeddings') }}
    where model = 'mir-v1'
),

centroid as (
    -- listen-weighted: every listen contributes its track's vector once
    select listens.user_id, listens.week, avg(vectors.embedding) as c
    from listens
    inner join vectors on vectors.track_id = listens.track_id
    group by listens.user_id, listens.week
),

dispersion as (
    select listens.user_id, listens.week, avg(vectors.embedding <-> centroid.c) as embedding_dispersion
    from listens
    inner join vectors on vectors.track_id = listens.track_id
    inner join centroid on centroid.user_id = listens.user_id and centroid.week = listens.week
    group by listens.user_id, listens.week
),

momentum as (
    select user_id, week, avg(abs(momentum)) as momentum_index
    from {{ ref('mart_mood_week') }}
    where momentum is not null
    group by user_id, week
)

select
    volume.user_id,
    users.user_name,
    volume.week,
    volume.listens,
    volume.unique_tracks,
    volume.unique_artists,
    entropy.artist_entropy,
    dispersion.embedding_dispersion,
    momentum.momentum_index
from volume
inner join users on users.user_id = volume.user_id
inner join entropy on entropy.user_id = volume.user_id and entropy.week = volume.week
left join dispersion on dispersion.user_id = volume.user_id and dispersion.week = volume.week
left join momentum on momentum.user_id = volume.user_id and momentum.week = volume.week
