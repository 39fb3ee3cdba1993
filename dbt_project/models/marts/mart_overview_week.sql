-- Weekly overview per user × local ISO week: volume, variety, spread in sound, mood momentum.
--
-- artist_entropy: Shannon entropy (natural log) of the week's listens over artists,
--   H = -sum_a p_a ln p_a with p_a = listens of artist a / listens (0 for a single artist).
-- embedding_dispersion: mean Euclidean distance of the week's listens' 'mir-v1' track vectors from
--   their listen-weighted centroid (each listen counts once; listens of tracks without a vector
--   are left out; null when none has one). Computed over the vectors' components in double
--   precision (vector -> real[] -> unnest) rather than pgvector's avg()/<->, which work in float4
--   and would drift from a float64 reference by ~1e-7.
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

track_weights as (
    -- listens per user × week × track that has a 'mir-v1' vector
    select listens.user_id, listens.week, listens.track_id, count(*)::double precision as w
    from listens
    inner join {{ source('sidetrack', 'embeddings') }} as emb
        on emb.track_id = listens.track_id and emb.model = 'mir-v1'
    group by listens.user_id, listens.week, listens.track_id
),

components as (
    select emb.track_id, c.dim, c.x::double precision as x
    from {{ source('sidetrack', 'embeddings') }} as emb
    cross join lateral unnest(emb.embedding::real[]) with ordinality as c (x, dim)
    where emb.model = 'mir-v1'
      and emb.track_id in (select track_id from track_weights)
),

centroid as (
    select tw.user_id, tw.week, c.dim, sum(tw.w * c.x) / sum(tw.w) as cx
    from track_weights as tw
    inner join components as c on c.track_id = tw.track_id
    group by tw.user_id, tw.week, c.dim
),

distances as (
    select tw.user_id, tw.week, tw.w, sqrt(sum((c.x - ce.cx) ^ 2)) as d
    from track_weights as tw
    inner join components as c on c.track_id = tw.track_id
    inner join centroid as ce
        on ce.user_id = tw.user_id and ce.week = tw.week and ce.dim = c.dim
    group by tw.user_id, tw.week, tw.track_id, tw.w
),

dispersion as (
    select user_id, week, sum(w * d) / sum(w) as embedding_dispersion
    from distances
    group by user_id, week
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
