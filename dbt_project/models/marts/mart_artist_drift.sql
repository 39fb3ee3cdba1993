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
-- Speed: the listens per user × artist × week come aggregated, all axes side by side (a sum pair
-- per axis), from the weekly incremental model int_artist_user_week; they are numbered in one
-- window pass and the regression sums of all axes are taken in one aggregation (per user ×
-- artist, a FILTER per axis); only the per-artist results are unpivoted to axes.
-- Not tagged 'weekly': every row depends on all of the user's weeks.
--
-- Incremental (strategy 'summary_delta', macros/summary_incremental.sql; README "Incremental
-- summary marts"): the rows of (user, artist) depend on all the pair's weeks, so the user-weeks
-- rebuilt by weekly runs since this mart's last build (the rebuild log after the mart's mark,
-- tombstones included) invalidate the pairs present in them after the change (in
-- int_artist_user_week now) or before it (a pair in this table whose observed span
-- first_week..last_week on some axis holds the week: artists can vanish from a week); see
-- artist_drift_affected_pairs(). Those pairs' rows are deleted and recomputed from all their
-- weeks, then drift_rank is recomputed for the users concerned (it ranks all of a user's artists
-- per axis). Everything is recomputed on a first build, --full-refresh, without a mark, after a
-- full rebuild of the weekly tables, or when the artist names or the vars (axes,
-- artist_drift_min_weeks) changed.
-- depends_on: {{ ref('int_user_week_changes') }}
{%- set min_weeks = var('artist_drift_min_weeks', 4) | int %}
{%- set axes = var('axes') %}
{%- set fingerprint = 'artist_drift:' ~ min_weeks ~ ':' ~ (axes | join(',')) %}
{{ config(materialized='incremental', incremental_strategy='summary_delta',
          summary_fingerprint=fingerprint,
          post_hook="{{ summary_mark_store(config.get('summary_fingerprint', '')) }}",
          indexes=[{'columns': ['user_id', 'artist_id']}]) }}
{%- set scope = summary_scope(fingerprint) %}
{%- if min_weeks < 2 %}
    {{ exceptions.raise_compiler_error("artist_drift_min_weeks must be at least 2 (a slope needs two weeks), got " ~ min_weeks) }}
{%- endif %}

with users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

artists as (
    select artist_id, name as artist_name from {{ source('sidetrack', 'artist') }}
),

-- user × artist × week, all axes side by side: listens scored on the axis and their score sum
-- (n1 = first axis of var('axes'), ...), from the weekly model int_artist_user_week
artist_weeks as (
    select
        user_id,
        artist_id,
        week
        {%- for axis in axes %},
        n_{{ axis }} as n{{ loop.index }},
        s_{{ axis }} as s{{ loop.index }}
        {%- endfor %}
    from {{ ref('int_artist_user_week') }}
    {%- if scope.partial %}
    -- partial: only the affected pairs (see the header), with all their weeks
    where (user_id, artist_id) in ({{ artist_drift_affected_pairs(scope.lo, this) }})
    {%- endif %}
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

-- per user × artist, all axes side by side: the regression's sums over the observed weeks of
-- each axis (o<i>: the week has listens scored on axis i and the artist has at least min_weeks
-- such weeks); one aggregation pass over the user × artist × week rows instead of one row per
-- axis and week
fitted_wide as (
    select
        user_id,
        artist_id
        {%- for axis in axes %}
        {%- set i = loop.index %}
        {%- set o = "n" ~ i ~ " > 0 and w" ~ i ~ " >= " ~ min_weeks %},
        count(*) filter (where {{ o }}) as weeks_observed{{ i }},
        sum(n{{ i }}) filter (where {{ o }}) as listens{{ i }},
        min(week) filter (where {{ o }}) as first_week{{ i }},
        max(week) filter (where {{ o }}) as last_week{{ i }},
        sum(s{{ i }}) filter (where {{ o }}) as value_sum{{ i }},
        regr_slope(s{{ i }} / n{{ i }}, week_number) filter (where {{ o }}) as slope{{ i }},
        regr_sxx(s{{ i }} / n{{ i }}, week_number) filter (where {{ o }}) as sxx{{ i }},
        regr_sxy(s{{ i }} / n{{ i }}, week_number) filter (where {{ o }}) as sxy{{ i }},
        regr_syy(s{{ i }} / n{{ i }}, week_number) filter (where {{ o }}) as syy{{ i }},
        sum(s{{ i }}) filter (where {{ o }} and k{{ i }} <= w{{ i }} / 2) as first_sum{{ i }},
        sum(n{{ i }}) filter (where {{ o }} and k{{ i }} <= w{{ i }} / 2) as first_listens{{ i }},
        sum(s{{ i }}) filter (where {{ o }} and k{{ i }} > w{{ i }} - w{{ i }} / 2) as latest_sum{{ i }},
        sum(n{{ i }}) filter (where {{ o }} and k{{ i }} > w{{ i }} - w{{ i }} / 2) as latest_listens{{ i }}
        {%- endfor %}
    from (
        select numbered.*, ((week - date '2000-01-03') / 7)::double precision as week_number
        from numbered
    ) as numbered
    where false
    {%- for axis in axes %}
       or w{{ loop.index }} >= {{ min_weeks }}
    {%- endfor %}
    group by user_id, artist_id
),

-- user × artist × axis (axis_index = position in var('axes')), for the artists with at least
-- min_weeks observed weeks of the axis
fitted as (
    select
        fitted_wide.user_id,
        fitted_wide.artist_id,
        per_axis.axis_index,
        per_axis.weeks_observed,
        per_axis.listens,
        per_axis.first_week,
        per_axis.last_week,
        (per_axis.last_week - per_axis.first_week) / 7 as span_weeks,
        per_axis.value_sum / per_axis.listens as mean_value,
        per_axis.slope_per_week,
        per_axis.sxx,
        per_axis.sxy,
        per_axis.syy,
        per_axis.first_sum / per_axis.first_listens as first_period_mean,
        per_axis.latest_sum / per_axis.latest_listens as latest_period_mean
    from fitted_wide
    cross join lateral (
        values
        {%- for axis in axes %}
        {%- set i = loop.index %}
            ({{ i }}, weeks_observed{{ i }}, listens{{ i }}, first_week{{ i }}, last_week{{ i }}, value_sum{{ i }},
             slope{{ i }}, sxx{{ i }}, sxy{{ i }}, syy{{ i }}, first_sum{{ i }}, first_listens{{ i }},
             latest_sum{{ i }}, latest_listens{{ i }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as per_axis (axis_index, weeks_observed, listens, first_week, last_week, value_sum, slope_per_week,
                   sxx, sxy, syy, first_sum, first_listens, latest_sum, latest_listens)
    where per_axis.weeks_observed > 0
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
