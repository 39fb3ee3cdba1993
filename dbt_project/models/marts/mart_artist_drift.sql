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
--   slope_se        = its standard error, sqrt(SSE / (n - 2) / Sxx) with SSE the residual sum of
--                     squares, Sxx = sum (t_i - mean t)^2; null with fewer than 3 observed weeks
--   fitted_change   = slope_per_week * span_weeks, the trend's total change over the observed
--                     span (scale-free across artists heard over short and long spans)
--   first_period_mean / latest_period_mean = listen-weighted mean over the listens of the first
--                     floor(n / 2) and of the last floor(n / 2) observed weeks (for odd n the middle
--                     week is in neither); period_change = latest - first (model-free check of the
--                     slope's direction)
--   drift_rank      = rank of the artist within user × axis by |fitted_change| descending (ties
--                     to 1e-12 by artist_id): 1 = the artist whose listening moved most
-- Only artists with at least var('artist_drift_min_weeks', 4) observed weeks (of that user and
-- axis) are kept, so a slope is never fitted through two or three noisy weekly means.
-- Not tagged 'weekly': every row depends on all of the user's weeks.
{%- set min_weeks = var('artist_drift_min_weeks', 4) | int %}

with listen_counts as (
    select user_id, week, track_id, artist_id, count(*) as listens
    from {{ ref('int_listens_local') }}
    group by user_id, week, track_id, artist_id
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

artists as (
    select artist_id, name as artist_name from {{ source('sidetrack', 'artist') }}
),

scores as (
    select track_id, axis, value from {{ ref('int_track_axis_scores') }}
),

artist_weeks as (
    select
        listen_counts.user_id,
        listen_counts.artist_id,
        scores.axis,
        listen_counts.week,
        sum(listen_counts.listens) as listens,
        sum(listen_counts.listens * scores.value) as value_sum
    from listen_counts
    inner join scores on scores.track_id = listen_counts.track_id
    group by listen_counts.user_id, listen_counts.artist_id, scores.axis, listen_counts.week
),

indexed as (
    select
        artist_weeks.*,
        value_sum / listens::double precision as week_mean,
        ((week - min(week) over series) / 7)::double precision as t,
        row_number() over (series order by week) as week_index,
        count(*) over series as weeks_observed
    from artist_weeks
    window series as (partition by user_id, artist_id, axis)
),

fitted as (
    select
        user_id,
        artist_id,
        axis,
        count(*) as weeks_observed,
        sum(listens) as listens,
        min(week) as first_week,
        max(week) as last_week,
        (max(week) - min(week)) / 7 as span_weeks,
        sum(value_sum) / sum(listens)::double precision as mean_value,
        regr_slope(week_mean, t) as slope_per_week,
        regr_sxx(week_mean, t) as sxx,
        regr_sxy(week_mean, t) as sxy,
        regr_syy(week_mean, t) as syy,
        sum(value_sum) filter (where week_index <= weeks_observed / 2)
            / sum(listens) filter (where week_index <= weeks_observed / 2)::double precision
            as first_period_mean,
        sum(value_sum) filter (where week_index > weeks_observed - weeks_observed / 2)
            / sum(listens) filter (where week_index > weeks_observed - weeks_observed / 2)::double precision
            as latest_period_mean
    from indexed
    where weeks_observed >= {{ min_weeks }}
    group by user_id, artist_id, axis
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
)

select
    measured.user_id,
    users.user_name,
    measured.artist_id,
    artists.artist_name,
    measured.axis,
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
        partition by measured.user_id, measured.axis
        order by round(abs(measured.fitted_change)::numeric, 12) desc, measured.artist_id
    )::integer as drift_rank
from measured
inner join users on users.user_id = measured.user_id
inner join artists on artists.artist_id = measured.artist_id
