-- One row per track: everything a weekly model needs to know about a listened track, from the raw
-- tables (not the staging views, so `dbt build --select tag:weekly` works on a database where no
-- view exists yet):
--   artist_id                 the track's artist
--   score_<axis>              the preferred score per axis of var('axes'): the first method of
--                             var('axis_method_preference') that scored the track on that axis
--                             (the rule of int_track_axis_scores); null without one
--   analysed                  whether any axis has a preferred score (= the track is in
--                             int_track_axis_scores)
--   mood                      dominant zero-shot lexicon word, method 'zeroshot-musicnn-v1'
--                             (highest value; ties: alphabetically first word), as mart_mood_shares
--   embedding                 the 'mir-v1' track vector, for mart_overview_week's dispersion
--   release_id, labels        the track's release and the distinct labels of that release
--                             (release_label, sorted; null without any), for
--                             int_label_user_week (mart_label_influence)
--   lexicon_fingerprint       md5 of the track's lexicon scores of method
--                             var('vibe_summary_lexicon_method') (word and value, by word), so a
--                             re-scored word dirties the weeks int_vibe_user_week reads it in
--   fingerprint               md5 of all of the above: int_user_week_changes compares it with the
--                             snapshot of the last build (int_track_profile_snapshot) to find the
--                             tracks whose scores, artist, mood or vector changed
-- Rebuilt on every run (~ one row per track); tagged 'weekly' because the weekly models read it.
{{ config(materialized='table', tags=['weekly'],
          indexes=[{'columns': ['track_id'], 'unique': true}]) }}

with preferred as (
    select distinct on (track_id, axis)
        track_id,
        axis,
        value
    from {{ source('sidetrack', 'mood_scores') }}
    where axis in {{ sql_string_list(var('axes')) }}
      and method in {{ sql_string_list(var('axis_method_preference')) }}
    order by track_id, axis, {{ method_rank('method') }}
),

wide as (
    select
        track_id,
        {%- for axis in var('axes') %}
        max(value) filter (where axis = '{{ axis }}') as score_{{ axis }}{{ "," if not loop.last }}
        {%- endfor %}
    from preferred
    group by track_id
),

dominant as (
    select distinct on (track_id)
        track_id,
        word as mood
    from {{ source('sidetrack', 'lexicon_scores') }}
    where method = 'zeroshot-musicnn-v1'
    order by track_id, value desc, word
),

lexicon_fingerprints as (
    select
        track_id,
        md5(string_agg(word || '=' || value::text, ',' order by word)) as lexicon_fingerprint
    from {{ source('sidetrack', 'lexicon_scores') }}
    where method = '{{ var('vibe_summary_lexicon_method', 'zeroshot-musicnn-v1') | replace("'", "''") }}'
    group by track_id
),

release_labels as (
    select release_id, array_agg(distinct label_id order by label_id) as labels
    from {{ source('sidetrack_musicbrainz', 'release_label') }}
    group by release_id
),

vectors as (
    select track_id, embedding
    from {{ source('sidetrack', 'embeddings') }}
    where model = 'mir-v1'
),

profile as (
    select
        track.track_id,
        track.artist_id,
        {%- for axis in var('axes') %}
        wide.score_{{ axis }},
        {%- endfor %}
        wide.track_id is not null as analysed,
        dominant.mood,
        vectors.embedding,
        track.release_id,
        release_labels.labels,
        lexicon_fingerprints.lexicon_fingerprint
    from {{ source('sidetrack', 'track') }} as track
    left join wide on wide.track_id = track.track_id
    left join dominant on dominant.track_id = track.track_id
    left join vectors on vectors.track_id = track.track_id
    left join release_labels on release_labels.release_id = track.release_id
    left join lexicon_fingerprints on lexicon_fingerprints.track_id = track.track_id
)

select
    profile.*,
    md5(row(
        profile.artist_id,
        {%- for axis in var('axes') %}
        profile.score_{{ axis }},
        {%- endfor %}
        profile.mood,
        profile.embedding,
        profile.release_id,
        profile.labels,
        profile.lexicon_fingerprint
    )::text) as fingerprint
from profile
