-- The listen fingerprint of every user-week as it stands now (int_user_week_changes compares it
-- with int_user_week_state to find the dirty user-weeks): n_listens, track_sum and the two hash
-- sums of the week's track_ids (week_fingerprints(), macros/weekly.sql), and the user's name and
-- effective time zone. With the vars week_start / week_end (or their environment variables): the
-- weeks of that range for every user (also those without listens); without: every user-week with
-- listens.
--
-- Read through listen's (user_id, played_at, track_id) index, one range per user-week: the
-- candidate weeks of a user run from the week of their first listen to that of their last (one
-- week of margin each side), weeks without listens are dropped. Its own model, not a CTE of
-- int_user_week_changes, so that it runs while int_track_profile is being rebuilt (neither needs
-- the other; the changes need both).
{{ config(materialized='table', tags=['weekly']) }}
{%- set range = weekly_range() %}

with users as materialized (
    select
        user_id,
        user_name,
        {{ effective_timezone('timezone') }} as timezone
    from {{ source('sidetrack', 'users') }}
),

{% if range %}
weeks as materialized (
    select range_weeks.*, {{ week_fingerprint_bounds('range_weeks.week') }}
    from (
        select users.user_id, users.user_name, users.timezone, monday::date as week
        from users
        cross join generate_series(
            '{{ range.start }}'::date, '{{ range.end }}'::date - 7, interval '7 days'
        ) as monday
    ) as range_weeks
)

select weeks.user_id, weeks.week, weeks.user_name, weeks.timezone, fp.*
from weeks
cross join {{ week_fingerprints('weeks') }}

{% else %}
-- the candidate weeks of each user: from the week of the first listen to that of the last (one
-- week more each side: a local week is within a day of the UTC one)
spans as (
    select
        users.user_id,
        users.user_name,
        users.timezone,
        (select min(listen.played_at) from {{ source('sidetrack', 'listen') }} as listen
         where listen.user_id = users.user_id) as first_played,
        (select max(listen.played_at) from {{ source('sidetrack', 'listen') }} as listen
         where listen.user_id = users.user_id) as last_played
    from users
),

weeks as materialized (
    select candidate_weeks.*, {{ week_fingerprint_bounds('candidate_weeks.week') }}
    from (
        select spans.user_id, spans.user_name, spans.timezone, monday::date as week
        from spans
        cross join generate_series(
            {{ local_week('spans.first_played', 'spans.timezone') }} - 7,
            {{ local_week('spans.last_played', 'spans.timezone') }} + 7,
            interval '7 days'
        ) as monday
        where spans.first_played is not null
    ) as candidate_weeks
)

select weeks.user_id, weeks.week, weeks.user_name, weeks.timezone, fp.*
from weeks
cross join {{ week_fingerprints('weeks') }}
where fp.n_listens > 0
{% endif %}
