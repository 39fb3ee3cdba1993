-- Weekly mood per user × local ISO week × axis, with a 4-week EMA and its momentum.
--
-- mean_value: listen-weighted mean of the listened tracks' scores (every listen counts once, so a
-- track played five times weighs five times). variance: sample variance over those listens (0 for
-- a single listen). ema_4w: exponential moving average over the user's consecutive *observed*
-- weeks for the axis (weeks without listens are skipped, not filled), alpha = 2 / (span + 1),
-- seeded with the first week's mean: ema_1 = mean_1, ema_i = alpha * mean_i + (1 - alpha) * ema_{i-1}.
-- momentum: ema_i - ema_{i-1} (null on a series' first week).
-- The EMA is an ordered recursion, computed with a recursive CTE over the week index.
-- Full-history: rebuilt on every run, from the small weekly table int_mood_user_week (user ×
-- week × axis), never from the listens.
--
-- kalman_level / kalman_var: a local-level Kalman filter over the same observed weeks (the same
-- recursion). Model: level_t = level_{t-1} + eta (variance q per elapsed calendar week, so a gap
-- of g weeks adds g * q), mean_t = level_t + eps with variance r_t = max(variance_t, floor) / n_t
-- (the weekly mean's sampling variance; the floor keeps single-listen weeks from being exact).
-- Seed: level_1 = mean_1, P_1 = r_1. Step: P' = P + g q; K = P' / (P' + r_t);
-- level_t = level_{t-1} + K (mean_t - level_{t-1}); P_t = (1 - K) P'.
-- q = var('kalman_level_var', 0.0004) (sd 0.02 per week), floor = var('kalman_obs_var_floor', 0.01).
{%- set alpha = 2.0 / (var('ema_span_weeks') | float + 1.0) %}
{%- set kq = var('kalman_level_var', 0.0004) | float %}
{%- set kfloor = var('kalman_obs_var_floor', 0.01) | float %}

with recursive

users as (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
),

weekly as (
    -- mean, var_samp and count of the week's listen scores (weekly table, see its model)
    select user_id, week, axis, mean_value, variance, sample_size
    from {{ ref('int_mood_user_week') }}
),

indexed as (
    select
        weekly.*,
        row_number() over (partition by user_id, axis order by week)::integer as week_index,
        greatest(variance, {{ kfloor }}) / sample_size as obs_var
    from weekly
),

ema (user_id, axis, week_index, week, ema_4w, momentum, kalman_level, kalman_var) as (
    select
        user_id,
        axis,
        week_index,
        week,
        mean_value::double precision,
        null::double precision,
        mean_value::double precision,
        obs_var::double precision
    from indexed
    where week_index = 1

    union all

    select
        indexed.user_id,
        indexed.axis,
        indexed.week_index,
        indexed.week,
        ({{ alpha }} * indexed.mean_value + (1 - {{ alpha }}) * ema.ema_4w)::double precision,
        ({{ alpha }} * indexed.mean_value + (1 - {{ alpha }}) * ema.ema_4w - ema.ema_4w)::double precision,
        (ema.kalman_level + kf.gain * (indexed.mean_value - ema.kalman_level))::double precision,
        ((1 - kf.gain) * kf.p_pred)::double precision
    from ema
    inner join indexed
        on indexed.user_id = ema.user_id
        and indexed.axis = ema.axis
        and indexed.week_index = ema.week_index + 1
    cross join lateral (
        select ema.kalman_var + ((indexed.week - ema.week) / 7) * {{ kq }} as p_pred
    ) as pp
    cross join lateral (
        select pp.p_pred, pp.p_pred / (pp.p_pred + indexed.obs_var) as gain
    ) as kf
)

select
    indexed.user_id,
    users.user_name,
    indexed.week,
    indexed.axis,
    indexed.mean_value,
    indexed.variance,
    indexed.sample_size,
    indexed.week_index,
    ema.ema_4w,
    ema.momentum,
    ema.kalman_level,
    ema.kalman_var
from indexed
inner join users on users.user_id = indexed.user_id
inner join ema
    on ema.user_id = indexed.user_id
    and ema.axis = indexed.axis
    and ema.week_index = indexed.week_index
