-- Change-points in a user's weekly mood: two-sided, self-starting CUSUM per user × axis.
--
-- Series: the weekly means of mart_mood_week for the axes in var('change_point_axes'), leaving out
-- weeks with fewer than var('cusum_min_week_listens') listens; observed weeks only, in order.
--
-- Per week t (a recursive CTE over the week index, one chain per user × axis):
--   * noise: sigma = the series' robust week-to-week noise, median(|x_t - x_{t-1}|) / (0.6745 * sqrt 2),
--     at least var('cusum_sd_floor'). Successive differences are barely moved by level shifts or
--     slow drifts, so sigma stays honest where a reference sd would be inflated by the very change
--     we look for (a change during a fresh reference's warm-up was missed that way).
--   * reference: mean m of the n weekly means since the last reset (before t). While
--     n < var('cusum_warmup_weeks') the week only joins the reference (S+ = S- = 0).
--   * standardisation: z_t = (x_t - m) / (sigma * sqrt(1 + 1/n)) (the sqrt term: m is estimated).
--   * S+_t = max(0, S+_{t-1} + z_t - k),  S-_t = max(0, S-_{t-1} - z_t - k)   (k = var('cusum_k'))
--   * alarm when S+ or S- exceeds h = var('cusum_h'): direction 'up' (S+) or 'down' (S-).
--     Otherwise x_t joins the reference (the reference keeps learning).
--   * after an alarm S+ and S- restart at 0 and the reference restarts empty (a new warm-up).
--
-- Change week: the alarming run starts the week after its statistic was last zero. Page's
-- estimate of the change week is that start; with var('cusum_refine_change_week') (default) the
-- week is refined inside the run [start, alarm week] to the split j that maximises the two-sample
-- mean-shift statistic  sign * (mean[j..t] - mean[segment start..j-1]) * sqrt(n1 * n2 / (n1 + n2)),
-- because noise often lifts the statistic off zero a few weeks before an abrupt change.
--
-- Rows of a second method (PELT, table change_point_detection) are appended with their `method`.
--
-- magnitude = mean of the weekly means of up to var('cusum_magnitude_weeks') observed weeks from
-- the change week on, minus the mean of up to that many observed weeks before it.
{%- set k = var('cusum_k') | float %}
{%- set h = var('cusum_h') | float %}
{%- set warmup = [var('cusum_warmup_weeks') | int, 2] | max %}
{%- set sd_floor = var('cusum_sd_floor') | float %}
{%- set span = [var('cusum_magnitude_weeks') | int, 1] | max %}
{%- set refine = var('cusum_refine_change_week') %}

with recursive

users as (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
),

weekly as (
    select user_id, axis, week, mean_value as x
    from {{ ref('mart_mood_week') }}
    where axis in {{ sql_string_list(var('change_point_axes')) }}
      and sample_size >= {{ var('cusum_min_week_listens') | int }}
),

steps as (
    select
        user_id,
        axis,
        abs(x - lag(x) over (partition by user_id, axis order by week)) as step
    from weekly
),

noise as (
    select
        user_id,
        axis,
        greatest(
            coalesce(percentile_cont(0.5) within group (order by step) / (0.6745 * sqrt(2)), 0),
            {{ sd_floor }}
        ) as sigma
    from steps
    where step is not null
    group by user_id, axis
),

series as (
    select
        weekly.user_id,
        weekly.axis,
        weekly.week,
        weekly.x,
        coalesce(noise.sigma, {{ sd_floor }}) as sigma,
        row_number() over w::integer as idx,
        -- prefix sum of the weekly means (segment means in the refinement step)
        sum(weekly.x) over (w rows between unbounded preceding and current row) as csum
    from weekly
    left join noise on noise.user_id = weekly.user_id and noise.axis = weekly.axis
    window w as (partition by weekly.user_id, weekly.axis order by weekly.week)
),

cusum (
    user_id, axis, idx, week, x, csum,
    ref_n, ref_sum, ref_sq,
    s_up, s_dn, up_zero_idx, dn_zero_idx,
    seg_start, seg_base,
    z, alarm, statistic, run_start
) as (
    -- First week: starts the first segment and the reference.
    select
        user_id, axis, idx, week, x, csum,
        1, x, x * x,
        0::double precision, 0::double precision, idx, idx,
        idx, 0::double precision,
        null::double precision, null::text, null::double precision, null::integer
    from series
    where idx = 1

    union all

    select
        s.user_id, s.axis, s.idx, s.week, s.x, s.csum,
        -- reference after this week: restart empty after an alarm, else add the week
        case when al.alarm is null then c.ref_n + 1 else 0 end,
        case when al.alarm is null then c.ref_sum + s.x else 0 end,
        case when al.alarm is null then c.ref_sq + s.x * s.x else 0 end,
        -- statistics after this week (restart after an alarm)
        case when al.alarm is null then st.s_up else 0 end,
        case when al.alarm is null then st.s_dn else 0 end,
        case when al.alarm is null and st.s_up > 0 then c.up_zero_idx else s.idx end,
        case when al.alarm is null and st.s_dn > 0 then c.dn_zero_idx else s.idx end,
        -- the current segment (weeks since the last reset) and the prefix sum before it
        case when al.alarm is null then c.seg_start else s.idx + 1 end,
        case when al.alarm is null then c.seg_base else s.csum end,
        zz.z,
        al.alarm,
        case al.alarm when 'up' then st.s_up when 'down' then st.s_dn end,
        case al.alarm when 'up' then c.up_zero_idx + 1 when 'down' then c.dn_zero_idx + 1 end
    from cusum as c
    inner join series as s
        on s.user_id = c.user_id
        and s.axis = c.axis
        and s.idx = c.idx + 1
    cross join lateral (
        select case
            when c.ref_n >= {{ warmup }} then
                (s.x - c.ref_sum / c.ref_n) / (s.sigma * sqrt(1 + 1.0 / c.ref_n))
        end as z
    ) as zz
    cross join lateral (
        select
            case when zz.z is null then 0 else greatest(0, c.s_up + zz.z - {{ k }}) end as s_up,
            case when zz.z is null then 0 else greatest(0, c.s_dn - zz.z - {{ k }}) end as s_dn
    ) as st
    cross join lateral (
        select case
            when st.s_up > {{ h }} and st.s_up >= st.s_dn then 'up'
            when st.s_dn > {{ h }} then 'down'
        end as alarm
    ) as al
),

alarms as (
    -- seg_start / seg_base on an alarm row already point at the next segment: take the previous row's.
    select
        a.user_id, a.axis, a.idx, a.week, a.csum, a.alarm, a.statistic, a.run_start,
        prev.seg_start, prev.seg_base
    from cusum as a
    inner join cusum as prev
        on prev.user_id = a.user_id
        and prev.axis = a.axis
        and prev.idx = a.idx - 1
    where a.alarm is not null
),

candidates as (
    -- every split j of the alarming run: before = [seg_start, j - 1], after = [j, alarm week]
    select
        alarms.user_id,
        alarms.axis,
        alarms.idx as alarm_idx,
        j.idx as change_idx,
        {% if refine -%}
        (case alarms.alarm when 'up' then 1 else -1 end)
        * (
            (alarms.csum - (j.csum - j.x)) / (alarms.idx - j.idx + 1)
            - (j.csum - j.x - alarms.seg_base) / (j.idx - alarms.seg_start)
        )
        * sqrt(
            (alarms.idx - j.idx + 1)::double precision * (j.idx - alarms.seg_start)
            / (alarms.idx - alarms.seg_start + 1)
        )
        {%- else -%}
        case when j.idx = alarms.run_start then 1 else 0 end
        {%- endif %} as split_score
    from alarms
    inner join series as j
        on j.user_id = alarms.user_id
        and j.axis = alarms.axis
        and j.idx between alarms.run_start and alarms.idx
),

change as (
    select distinct on (user_id, axis, alarm_idx)
        user_id, axis, alarm_idx, change_idx
    from candidates
    order by user_id, axis, alarm_idx, split_score desc, change_idx
),

cusum_rows as (
select
    alarms.user_id,
    users.user_name,
    alarms.axis,
    change_week.week,
    alarms.week as detected_week,
    alarms.alarm as direction,
    (
        select avg(w_after.x) from series as w_after
        where w_after.user_id = alarms.user_id
          and w_after.axis = alarms.axis
          and w_after.idx between change.change_idx and change.change_idx + {{ span - 1 }}
    ) - (
        select avg(w_before.x) from series as w_before
        where w_before.user_id = alarms.user_id
          and w_before.axis = alarms.axis
          and w_before.idx between change.change_idx - {{ span }} and change.change_idx - 1
    ) as magnitude,
    alarms.statistic,
    'cusum-v1'::text as method
from alarms
inner join change
    on change.user_id = alarms.user_id
    and change.axis = alarms.axis
    and change.alarm_idx = alarms.idx
inner join series as change_week
    on change_week.user_id = alarms.user_id
    and change_week.axis = alarms.axis
    and change_week.idx = change.change_idx
inner join users on users.user_id = alarms.user_id
),

-- Change-points of the offline PELT detector, written by the Dagster asset change_point_detection
-- (sidetrack_pipeline/analytics/change_points.py), only for the axes monitored here.
pelt_rows as (
    select
        d.user_id,
        users.user_name,
        d.axis,
        d.week,
        d.detected_week,
        d.direction,
        d.magnitude,
        d.statistic,
        d.method
    from {{ source('sidetrack_change_points', 'change_point_detection') }} as d
    inner join users on users.user_id = d.user_id
    where d.axis in {{ sql_string_list(var('change_point_axes')) }}
)

select * from cusum_rows
union all
select * from pelt_rows
