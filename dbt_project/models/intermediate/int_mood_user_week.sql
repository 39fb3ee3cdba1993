-- Weekly mood aggregates per user × local ISO week × axis: the listen-weighted mean and sample
-- variance of the scores of the week's listens (every listen counts once; listens of tracks
-- without a score on the axis are left out). mart_mood_week adds the EMA / Kalman recursion
-- over these rows.
--
-- Computed per (user, week, track) row of int_user_week_tracks with n = listens, v = the track's
-- preferred score (int_track_profile), in one pass for all axes:
--   sample_size = N = sum n,   mean_value = sum(n v) / N,
--   variance    = (sum(n v^2) - (sum n v)^2 / N) / (N - 1)   (var_samp; 0 when N = 1)
-- Scores lie in [0, 1], so the cancellation in the variance costs at most ~1e-15 absolute (the
-- property tests hold it to 1e-9 against pandas); it is clamped at 0 against -1e-17 rounding.
--
-- Weekly, incremental (strategy 'user_week'): only the user-weeks being rebuilt.
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          post_hook=["{{ weekly_analyze() }}", "{{ user_week_log_full_if_new() }}"],
          indexes=[{'columns': ['user_id', 'week', 'axis'], 'unique': true}]) }}

with tracks as (
    select *
    from {{ dirty_rows(ref('int_user_week_tracks')) }} as uwt
),

sums as (
    select
        tracks.user_id,
        tracks.week,
        {%- for axis in var('axes') %}
        sum(tracks.listens) filter (where profile.score_{{ axis }} is not null) as n_{{ axis }},
        sum(tracks.listens * profile.score_{{ axis }}) as s1_{{ axis }},
        sum(tracks.listens * profile.score_{{ axis }} * profile.score_{{ axis }}) as s2_{{ axis }}{{ "," if not loop.last }}
        {%- endfor %}
    from tracks
    inner join {{ ref('int_track_profile') }} as profile on profile.track_id = tracks.track_id
    where profile.analysed
    group by tracks.user_id, tracks.week
),

per_axis as (
    select sums.user_id, sums.week, axes.axis, axes.n, axes.s1, axes.s2
    from sums
    cross join lateral (
        values
        {%- for axis in var('axes') %}
            ('{{ axis }}', n_{{ axis }}, s1_{{ axis }}, s2_{{ axis }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as axes (axis, n, s1, s2)
    where axes.n > 0
)

select
    user_id,
    week,
    axis,
    n::bigint as sample_size,
    s1 / n as mean_value,
    case when n > 1 then greatest((s2 - s1 * s1 / n) / (n - 1), 0) else 0 end::double precision as variance
from per_axis
