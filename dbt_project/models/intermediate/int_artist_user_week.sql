-- Per user × local ISO week × artist (the track's main artist), all axes side by side: the week's
-- listens of the artist's tracks that have a preferred score on the axis and the sum of their
-- scores (every listen counts once):
--   n_<axis> = sum listens (tracks scored on the axis; null when none)
--   s_<axis> = sum listens * score_<axis>
-- Read by mart_artist_drift (its observed weeks and weekly means) and mart_label_influence (the
-- 'artist' contributors), which used to aggregate int_user_week_tracks themselves on every build.
-- Only tracks with a preferred score on some axis (int_track_profile.analysed) count, as in
-- int_mood_user_week.
--
-- Weekly, incremental (strategy 'user_week', macros/weekly.sql): only the user-weeks being rebuilt.
-- pair_log: the strategy also records which (user, artist) pairs' rows changed in the artist pair
-- log (artist_pair_log_record(), macros/summary_incremental.sql), mart_artist_drift's input.
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'], pair_log=true,
          post_hook=["{{ weekly_analyze() }}", "{{ user_week_log_full_if_new() }}", "{{ artist_pair_log_full_if_new() }}"],
          indexes=[{'columns': ['user_id', 'week', 'artist_id'], 'unique': true}]) }}

with tracks as (
    select *
    from {{ dirty_rows(ref('int_user_week_tracks')) }} as uwt
)

select
    tracks.user_id,
    tracks.week,
    profile.artist_id
    {%- for axis in var('axes') %},
    sum(tracks.listens::double precision) filter (where profile.score_{{ axis }} is not null) as n_{{ axis }},
    sum(tracks.listens * profile.score_{{ axis }}) as s_{{ axis }}
    {%- endfor %}
from tracks
inner join {{ ref('int_track_profile') }} as profile on profile.track_id = tracks.track_id
where profile.analysed
group by tracks.user_id, tracks.week, profile.artist_id
