-- Weekly volume, variety and spread in sound per user × local ISO week (mart_listens_week and
-- mart_overview_week read it):
--   listens, unique_tracks, unique_artists (all listens, scored or not);
--   artist_entropy: Shannon entropy (natural log) of the week's listens over artists,
--     H = -sum_a p_a ln p_a with p_a = listens of artist a / listens (0 for a single artist),
--     computed as ln T - (sum_a n_a ln n_a) / T (T = listens; ~1e-15 from the direct sum);
--   embedding_dispersion: mean Euclidean distance of the week's listens' 'mir-v1' track vectors
--     from their listen-weighted centroid (each listen counts once; listens of tracks without a
--     vector are left out; null when none has one). The centroid is pgvector's avg() over one row
--     per listen (a track's row repeated `listens` times), stored as float4, and the distances <-> are float4
--     too, so values agree with a float64 computation to ~1e-6 relative, not 1e-9 (an exact
--     version over unnested components took 15-20 s of the 1M-listen build).
--
-- Weekly, incremental (strategy 'user_week').
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          post_hook="{{ weekly_analyze() }}",
          indexes=[{'columns': ['user_id', 'week'], 'unique': true}]) }}

-- (`vectors` is `not materialized`: materialising a million rows with their vectors cost more
-- than reading the table again. `tracks` is materialised when only some user-weeks are rebuilt:
-- it is read three times, each time through the dirty user-weeks' index entries.)
with tracks as {{ 'materialized' if weekly_restricted() else 'not materialized' }} (
    select *
    from {{ dirty_rows(ref('int_user_week_tracks')) }} as uwt
),

artist_counts as (
    select user_id, week, artist_id, sum(listens)::double precision as n, count(*) as tracks
    from tracks
    group by user_id, week, artist_id
),

volume as (
    -- a track has one artist, so the week's tracks are the sum over its artists. Entropy without
    -- a window: with T = sum n, -sum (n/T) ln(n/T) = ln T - (sum n ln n) / T.
    select
        user_id,
        week,
        sum(n)::bigint as listens,
        sum(tracks)::bigint as unique_tracks,
        count(*)::bigint as unique_artists,
        ln(sum(n)) - sum(n * ln(n)) / sum(n) as artist_entropy
    from artist_counts
    group by user_id, week
),

vectors as not materialized (
    select tracks.user_id, tracks.week, tracks.listens, profile.embedding
    from tracks
    inner join {{ ref('int_track_profile') }} as profile on profile.track_id = tracks.track_id
    where profile.embedding is not null
),

centroid as (
    -- listen-weighted: every listen contributes its track's vector once (a track played n > 1
    -- times in the week is repeated n times; generate_series only where needed, it is slow)
    select per_listen.user_id, per_listen.week, avg(per_listen.embedding) as c
    from (
        select user_id, week, embedding from vectors where listens = 1
        union all
        select vectors.user_id, vectors.week, vectors.embedding
        from vectors
        cross join lateral generate_series(1, vectors.listens) as copies
        where vectors.listens > 1
    ) as per_listen
    group by per_listen.user_id, per_listen.week
),

dispersion as (
    select
        vectors.user_id,
        vectors.week,
        sum(vectors.listens * (vectors.embedding <-> centroid.c)) / sum(vectors.listens) as embedding_dispersion
    from vectors
    inner join centroid on centroid.user_id = vectors.user_id and centroid.week = vectors.week
    group by vectors.user_id, vectors.week
)

select
    volume.user_id,
    volume.week,
    volume.listens,
    volume.unique_tracks,
    volume.unique_artists,
    volume.artist_entropy,
    dispersion.embedding_dispersion
from volume
left join dispersion on dispersion.user_id = volume.user_id and dispersion.week = volume.week
