-- Per-artist drift: per user × artist × axis, how the mood of what the user plays *by that artist*
-- moved over time.
--
-- Listens: the user's listens of the artist's tracks (the track's main artist) that have a score on
-- the axis (int_track_axis_scores, one method per track × axis). Unit of observation: an observed
-- week, i.e. a local ISO week with at least one such listen.
--   week_mean_i     = listen-weighted mean score of week i's listens (each listen counts once)
--   t_i             = (week_i - first_week) / 7, whole weeks since the first observed week
--   slope_per_week  = ordinary least-squares slope of week_mean_i on t_i over the observed weeks
--                     (each week weighs the same: repeated plays of one track in a week are not
--                     independent evidence, so listen weights would overstate busy weeks; gaps
--                     are not filled, t keeps the real calendar spacing)
--   slope_se        = its classical standard error, sqrt(SSE / (n - 2) / Sxx) with SSE the residual
--                     sum of squares, Sxx = sum (t_i - mean t)^2; null with fewer than 3 observed
--                     weeks. It assumes independent, equal-variance weekly residuals (weeks of few
--                     listens are noisier), so read slope / slope_se as indicative, not as a test.
--   fitted_change   = slope_per_week * span_weeks, the trend's total change over the observed
--                     span, in score units (comparable between artists heard over short and long
--                     spans, unlike the slope per week)
--   first_period_mean / latest_period_mean = listen-weighted mean over the listens of the first
--                     floor(n / 2) and of the last floor(n / 2) observed weeks (for odd n the middle
--                     week is in neither); period_change = latest - first (model-free check of the
--                     slope's direction)
--   drift_rank      = rank of the artist within user × axis by |fitted_change| descending
--                     (compared to 1e-12, i.e. round(|fitted_change| * 1e12); ties by artist_id):
--                     1 = the artist whose listening moved most
-- Only artists with at least var('artist_drift_min_weeks', 4) observed weeks (of that user and
-- axis) are kept, so a slope is never fitted through two or three noisy weekly means.
-- The slope is computed on the absolute week number (weeks since 2000-01-03); a least-squares
-- slope does not change when t is shifted, so this is the slope on t above.
--
-- Speed: the listens are aggregated per user × artist × week with all axes side by side (a sum
-- pair per axis; ten times fewer rows than one per axis) and numbered in one window pass, then
-- unpivoted to axes for the regression.
-- Not tagged 'weekly': every row depends on all of the user's weeks.
{%- set min_weeks = var('artist_drift_min_weeks', 4) | int %}
{%- set axes = var('axes') %}
{%- if min_weeks < 2 %}
    {{ exceptions.raise_compiler_error("artist_drift_min_weeks must be at least 2 (a slope needs two weeks), got " ~ min_weeks) }}
{%- endif %}

with listen_counts as (
    -- listens per user × week × track from the weekly table (the same rows as grouping
    -- int_listens_local by user_id, week, track_id, artist_id, without converting a million
    -- listens to local time again on every build)
    select user_id, week, track_id, artist_id, listens::bigint as listens
    from {{ ref('int_user_week_tracks') }}
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

artists as (
    select artist_id, name as artist_name from {{ source('sidetrack', 'artist') }}
),

-- one row per track: its score on every axis (v1 = first axis of var('axes'), ...; null if none)
track_scores as (
    select
        track_id
        {%- for axis in axes %},
        max(value) filter (where axis = '{{ axis }}') as v{{ loop.index }}
        {%- endfor %}
    from {{ ref('int_track_axis_scores') }}
    group by track_id
),

-- user × artist × week, all axes side by side: listens scored on the axis and their score sum
artist_weeks as (
    select
        listen_counts.user_id,
        listen_counts.artist_id,
        listen_counts.week
        {%- for axis in axes %},
        sum(listen_counts.listens::double precision) filter (where track_scores.v{{ loop.index }} is not null)
            as n{{ loop.index }},
        sum(listen_counts.listens * track_scores.v{{ loop.index }}) as s{{ loop.index }}
        {%- endfor %}
    from listen_counts
    inner join track_scores on track_scores.track_id = listen_counts.track_id
    group by listen_counts.user_id, listen_counts.artist_id, listen_counts.week
),

-- per axis: the week's position among the artist's observed weeks (k) and their number (w)
numbered as (
    select
        artist_weeks.*
        {%- for axis in axes %},
        count(*) filter (where n{{ loop.index }} > 0) over running as k{{ loop.index }},
        count(*) filter (where n{{ loop.index }} > 0) over series as w{{ loop.index }}
        {%- endfor %}
    from artist_weeks
    window
        series as (partition by user_id, artist_id),
        running as (partition by user_id, artist_id order by week rows unbounded preceding)
),

-- user × artist × axis × observed week (axis_index = position in var('axes'))
observed as (
    select
        numbered.user_id,
        numbered.artist_id,
        per_axis.axis_index,
        numbered.week,
        ((numbered.week - date '2000-01-03') / 7)::double precision as week_number,
        per_axis.listens,
        per_axis.value_sum,
        per_axis.value_sum / per_axis.listens as week_mean,
        per_axis.week_index,
        per_axis.weeks_observed
    from numbered
    cross join lateral (
        values
        {%- for axis in axes %}
            ({{ loop.index }}, n{{ loop.index }}, s{{ loop.index }}, k{{ loop.index }}, w{{ loop.index }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as per_axis (axis_index, listens, value_sum, week_index, weeks_observed)
    where per_axis.listens > 0
      and per_axis.weeks_observed >= {{ min_weeks }}
),

fitted as (
    select
        user_id,
        artist_id,
        axis_index,
        count(*) as weeks_observed,
        sum(listens) as listens,
        min(week) as first_week,
        max(week) as last_week,
        (max(week) - min(week)) / 7 as span_weeks,
        sum(value_sum) / sum(listens) as mean_value,
        regr_slope(week_mean, week_number) as slope_per_week,
        regr_sxx(week_mean, week_number) as sxx,
        regr_sxy(week_mean, week_number) as sxy,
        regr_syy(week_mean, week_number) as syy,
        sum(value_sum) filter (where week_index <= weeks_observed / 2)
            / sum(listens) filter (where week_index <= weeks_observed / 2) as first_period_mean,
        sum(value_sum) filter (where week_index > weeks_observed - weeks_observed / 2)
            / sum(listens) filter (where week_index > weeks_observed - weeks_observed / 2) as latest_period_mean
    from observed
    group by user_id, artist_id, axis_index
),

-- materialized: computed once, whatever join order the planner picks for the names below
measured as materialized (
    select
        fitted.*,
        case
            when weeks_observed >= 3
                then sqrt(greatest(syy - sxy * sxy / sxx, 0) / (weeks_observed - 2) / sxx)
        end as slope_se,
        slope_per_week * span_weeks as fitted_change,
        latest_period_mean - first_period_mean as period_change
    from fitted
),

axis_names as (
    select *
    from (
        values
        {%- for axis in axes %}
            ({{ loop.index }}, '{{ axis }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as axis_names (axis_index, axis)
)

select
    measured.user_id,
    users.user_name,
    measured.artist_id,
    artists.artist_name,
    axis_names.axis,
    measured.weeks_observed::integer as weeks_observed,
    measured.listens::bigint as listens,
    measured.first_week,
    measured.last_week,
    measured.span_weeks,
    measured.mean_value,
    measured.first_period_mean,
    measured.latest_period_mean,
    measured.period_change,
    measured.slope_per_week,
    measured.slope_se,
    measured.fitted_change,
    row_number() over (
        partition by measured.user_id, measured.axis_index
        order by round(abs(measured.fitted_change) * 1e12) desc, measured.artist_id
    )::integer as drift_rank
from measured
inner join axis_names on axis_names.axis_index = measured.axis_index
inner join users on users.user_id = measured.user_id
inner join artists on artists.artist_id = measured.artist_id
