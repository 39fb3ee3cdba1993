-- Weekly mood per user × local ISO week × axis, with a 4-week EMA and its momentum.
--
-- mean_value: listen-weighted mean of the listened tracks' scores (every listen counts once, so a
-- track played five times weighs five times). variance: sample variance over those listens (0 for
-- a single listen). ema_4w: exponential moving average over the user's consecutive *observed*
-- weeks for the axis (weeks without listens are skipped, not filled), alpha = 2 / (span + 1),
-- seeded with the first week's mean: ema_1 = mean_1, ema_i = alpha * mean_i + (1 - alpha) * ema_{i-1}.
-- momentum: ema_i - ema_{i-1} (null on a series' first week).
-- The EMA is an ordered recursion, computed with a recursive CTE over the week index.
{%- set alpha = 2.0 / (var('ema_span_weeks') | float + 1.0) %}

with recursive

listen_axis as (
    select * from {{ ref('int_listen_axis') }}
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

weekly as (
    select
        user_id,
        week,
        axis,
        avg(value) as mean_value,
        coalesce(var_samp(value), 0) as variance,
        count(*) as sample_size
    from listen_axis
    group by user_id, week, axis
),

indexed as (
    select
        weekly.*,
        row_number() over (partition by user_id, axis order by week)::integer as week_index
    from weekly
),

ema (user_id, axis, week_index, ema_4w, momentum) as (
    select
        user_id,
        axis,
        week_index,
        mean_value::double precision,
        null::double precision
    from indexed
    where week_index = 1

    union all

    select
        indexed.user_id,
        indexed.axis,
        indexed.week_index,
        ({{ alpha }} * indexed.mean_value + (1 - {{ alpha }}) * ema.ema_4w)::double precision,
        ({{ alpha }} * indexed.mean_value + (1 - {{ alpha }}) * ema.ema_4w - ema.ema_4w)::double precision
    from ema
    inner join indexed
        on indexed.user_id = ema.user_id
        and indexed.axis = ema.axis
        and indexed.week_index = ema.week_index + 1
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
    ema.momentum
from indexed
inner join users on users.user_id = indexed.user_id
inner join ema
    on ema.user_id = indexed.user_id
    and ema.axis = indexed.axis
    and ema.week_index = indexed.week_index
