-- One row per user × local ISO week × track: how often the user played the track that week, and
-- the track's artist. The one model of the weekly layer that reads `listen`; every other weekly
-- model aggregates these rows (a track played five times in a week is one row with listens = 5,
-- so the per-axis work is per track, not per listen).
--
-- Weekly, incremental (strategy 'user_week', macros/weekly.sql): with week_start / week_end only
-- the weeks of that range are (re)computed; without, the user-weeks int_user_week_changes marks
-- dirty. A few dirty weeks are read through listen's (user_id, played_at) index; many (a first
-- build, a time-zone change) with one scan of listen.
-- track_totals: the strategy keeps intermediate.int_user_track_weeks (weeks per user × track, for
-- mart_overview) in step (macros/weekly.sql, user_track_totals_record()).
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'], track_totals=true,
          post_hook=["{{ weekly_analyze() }}", "{{ user_track_totals_full_if_new() }}"],
          indexes=[{'columns': ['user_id', 'week', 'track_id'], 'unique': true}]) }}
{%- set restricted = weekly_restricted() %}
{%- set few = false %}
{%- if restricted and execute %}
    {%- set n_dirty = run_query("select count(*) from " ~ ref('int_user_week_changes') ~ " where dirty").columns[0].values()[0] %}
    {%- set few = n_dirty <= 60 %}
{%- endif %}

{% if few %}
with listens as (
    select dirty_weeks.user_id, dirty_weeks.week, listen.track_id
    from {{ ref('int_user_week_changes') }} as dirty_weeks
    inner join {{ source('sidetrack', 'listen') }} as listen
        on {{ listens_of_weeks_join('dirty_weeks', 'listen') }}
    where dirty_weeks.dirty
),
{% else %}
with users as (
    select user_id, {{ effective_timezone('timezone') }} as timezone
    from {{ source('sidetrack', 'users') }}
),

listens as (
    select *
    from (
        select
            listen.user_id,
            {{ local_week('listen.played_at', 'users.timezone') }} as week,
            listen.track_id
        from {{ source('sidetrack', 'listen') }} as listen
        inner join users on users.user_id = listen.user_id
    ) as localised
    where {{ dirty_weeks_filter('localised') }}
),
{% endif %}

counted as (
    select user_id, week, track_id, count(*)::integer as listens
    from listens
    group by user_id, week, track_id
)

select
    counted.user_id,
    counted.week,
    counted.track_id,
    track.artist_id,
    counted.listens
from counted
inner join {{ source('sidetrack', 'track') }} as track on track.track_id = counted.track_id
