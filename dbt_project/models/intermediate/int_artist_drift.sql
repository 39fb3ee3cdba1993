-- Per-artist drift fits (mart_artist_drift adds the names and drift_rank): per user × artist ×
-- axis, how the mood of what the user plays *by that artist* moved over time. Definitions in
-- mart_artist_drift's header; this table holds every column of it except user_name, artist_name
-- and drift_rank.
--
-- Speed: the listens per user × artist × week come aggregated, all axes side by side (a sum pair
-- per axis), from the weekly incremental model int_artist_user_week; they are numbered in one
-- window pass and the regression sums of all axes are taken in one aggregation (per user ×
-- artist, a FILTER per axis); only the per-artist results are unpivoted to axes.
-- Not tagged 'weekly': every row depends on all of the pair's weeks.
--
-- Incremental (strategy 'summary_delta', macros/summary_incremental.sql; README "Incremental
-- summary marts"): the rows of (user, artist) depend on all the pair's weeks, so the pairs whose
-- rows in int_artist_user_week changed since this table's last build are recomputed from all
-- their weeks: the artist pair log after this table's mark (written by int_artist_user_week's
-- strategy, which compares a rebuilt user-week's rows with what they were; see
-- artist_drift_affected_pairs()). Their rows are deleted and inserted anew, nothing else is
-- touched: the rank, which moves with any pair of the user, is computed by the mart (a view), and
-- the names are joined there too. Everything is recomputed on a first build, --full-refresh,
-- without a mark or a pair log, after a full rebuild of the weekly tables, when the vars (axes,
-- artist_drift_min_weeks) changed, or when more than var('artist_drift_partial_max_share') of
-- the pairs changed.
-- depends_on: {{ ref('int_user_week_changes') }}
{%- set min_weeks = var('artist_drift_min_weeks', 4) | int %}
{%- set axes = var('axes') %}
{%- set fingerprint = 'artist_drift:' ~ min_weeks ~ ':' ~ (axes | join(',')) %}
{{ config(materialized='incremental', incremental_strategy='summary_delta',
          summary_fingerprint=fingerprint,
          post_hook="{{ summary_mark_store(config.get('summary_fingerprint', '')) }}",
          indexes=[{'columns': ['user_id', 'artist_id', 'axis'], 'unique': true}]) }}
{%- set scope = summary_scope(fingerprint) %}
{%- if min_weeks < 2 %}
    {{ exceptions.raise_compiler_error("artist_drift_min_weeks must be at least 2 (a slope needs two weeks), got " ~ min_weeks) }}
{%- endif %}

-- user × artist × week, all axes side by side: listens scored on the axis and their score sum
-- (n1 = first axis of var('axes'), ...), from the weekly model int_artist_user_week
with artist_weeks as (
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
    where (user_id, artist_id) in ({{ artist_drift_affected_pairs(scope.lo) }})
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

measured as (
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
    measured.artist_id,
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
    measured.fitted_change
from measured
inner join axis_names on axis_names.axis_index = measured.axis_index
