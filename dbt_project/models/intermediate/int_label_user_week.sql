-- Per user × local ISO week × label, all axes side by side: the week's listens split between the
-- labels of each track's release and their weighted score sums (mart_label_influence's 'label'
-- contributors):
--   weight   = 1 / (number of distinct labels of the track's release) for each of those labels;
--              a track without a release or whose release has no label counts for label_id null
--              ('(no label)') with weight 1, so every listen's weights sum to 1
--   n_<axis> = sum listens * weight (tracks with a preferred score on the axis; null when none)
--   s_<axis> = sum listens * weight * score_<axis>
-- The labels come from int_track_profile.labels (part of the track fingerprint, so a release or
-- label change dirties the weeks the track was heard in). Only analysed tracks count.
--
-- Weekly, incremental (strategy 'user_week', macros/weekly.sql): only the user-weeks being rebuilt.
-- (No unique index: label_id is null for '(no label)'; the grain is tested.)
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          post_hook=["{{ weekly_analyze() }}", "{{ user_week_log_full_if_new() }}"],
          indexes=[{'columns': ['user_id', 'week']}]) }}

with tracks as (
    select *
    from {{ dirty_rows(ref('int_user_week_tracks')) }} as uwt
),

-- the week's tracks joined to their profile first (the few rows of the dirty user-weeks reach
-- int_track_profile through its index), then split between the release's labels
track_labels as (
    select
        tracks.user_id,
        tracks.week,
        tracks.listens,
        track_label.label_id,
        1.0 / coalesce(cardinality(profile.labels), 1)::double precision as weight
        {%- for axis in var('axes') %},
        profile.score_{{ axis }}
        {%- endfor %}
    from tracks
    inner join {{ ref('int_track_profile') }} as profile on profile.track_id = tracks.track_id
    left join lateral unnest(profile.labels) as track_label (label_id) on true
    where profile.analysed
)

select
    user_id,
    week,
    label_id
    {%- for axis in var('axes') %},
    sum(listens::double precision * weight) filter (where score_{{ axis }} is not null) as n_{{ axis }},
    sum(listens::double precision * weight * score_{{ axis }}) as s_{{ axis }}
    {%- endfor %}
from track_labels
group by user_id, week, label_id
