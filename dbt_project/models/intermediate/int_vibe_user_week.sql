-- Per user × local ISO week × lexicon word (lexicon_scores of method
-- var('vibe_summary_lexicon_method')): the week's listens of tracks scored for the word and the
-- sum of their scores (every listen counts once), plus the week's listens of tracks with any
-- score of that method (the same on every row of the user-week):
--   word_listens = sum listens,  value_sum = sum listens * value,  week_listens
-- mart_vibe_summary divides and ranks; it used to join int_user_week_tracks with every track's
-- words on each build. The lexicon scores are part of the track fingerprint (int_track_profile.
-- lexicon_fingerprint), so a re-scored word dirties the weeks the track was heard in.
--
-- Weekly, incremental (strategy 'user_week', macros/weekly.sql): only the user-weeks being rebuilt.
-- depends_on: {{ ref('int_user_week_changes') }}
-- depends_on: {{ ref('int_track_profile') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          post_hook="{{ weekly_analyze() }}",
          indexes=[{'columns': ['user_id', 'week', 'word'], 'unique': true}]) }}

with tracks as (
    select *
    from {{ dirty_rows(ref('int_user_week_tracks')) }} as uwt
),

-- each track's scores of the method; first_word marks one row per track (its first word), so
-- that summing listens over those rows counts every listen of a track with a score once. Only
-- the tracks of the user-weeks being rebuilt (all tracks on a full build).
lexicon as (
    select
        track_id,
        word,
        value,
        word = min(word) over (partition by track_id) as first_word
    from {{ source('sidetrack', 'lexicon_scores') }}
    where method = '{{ var('vibe_summary_lexicon_method', 'zeroshot-musicnn-v1') | replace("'", "''") }}'
    {%- if weekly_restricted() %}
      and track_id in (select track_id from tracks)
    {%- endif %}
),

-- one pass over the week's tracks × their words
weekly as (
    select
        tracks.user_id,
        tracks.week,
        lexicon.word,
        sum(tracks.listens::double precision) as word_listens,
        sum(tracks.listens * lexicon.value) as value_sum,
        sum(tracks.listens::double precision) filter (where lexicon.first_word) as first_word_listens
    from tracks
    inner join lexicon on lexicon.track_id = tracks.track_id
    group by tracks.user_id, tracks.week, lexicon.word
)

select
    user_id,
    week,
    word,
    word_listens,
    value_sum,
    -- the week's listens of tracks with any score: each such listen is counted once, under its
    -- track's first word
    sum(coalesce(first_word_listens, 0)) over (partition by user_id, week) as week_listens
from weekly
