-- Each week's mood vs the user's trailing 26-week baseline, per axis (a radar chart).
--
-- Baseline: the observed weeks (rows of mart_mood_week) of the same user × axis whose Monday lies
-- 1..26 calendar weeks before this week (the week itself is excluded; gaps shrink the baseline).
-- baseline_mean / baseline_std: mean and sample standard deviation of those weekly means.
-- z_score = (value - baseline_mean) / baseline_std; null when the baseline has fewer than 4 weeks
-- or a zero standard deviation.
with weekly as (
    select user_id, user_name, week, axis, mean_value as value
    from {{ ref('mart_mood_week') }}
),

baselined as (
    select
        weekly.*,
        count(*) over w as baseline_weeks,
        avg(value) over w as baseline_mean,
        stddev_samp(value) over w as baseline_std
    from weekly
    window w as (
        partition by user_id, axis order by week
        range between interval '182 days' preceding and interval '7 days' preceding
    )
)

select
    user_id,
    user_name,
    week,
    axis,
    value,
    baseline_weeks,
    baseline_mean,
    baseline_std,
    case
        when baseline_weeks >= 4 and baseline_std > 0 then (value - baseline_mean) / baseline_std
    end as z_score
from baselined
