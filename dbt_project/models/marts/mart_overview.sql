-- One row per user: listening totals and coverage by mood scores.
--
-- Full-history (rebuilt every run) from the weekly tables: int_user_week_tracks (distinct tracks
-- and artists over all weeks) and int_overview_user_week (listens, weeks). analysed_tracks: the
-- listened tracks with a preferred mood score (int_track_profile.analysed, i.e. the tracks of
-- int_track_axis_scores).
-- The distinct tracks come from intermediate.int_user_track_weeks, int_user_week_tracks counted
-- per (user, track) and kept in step with it by its strategy (macros/weekly.sql): one row per
-- track a user ever played instead of one per track and week (read by name, like the other
-- bookkeeping tables; without it, int_user_week_tracks is grouped here).
-- depends_on: {{ ref('int_user_week_tracks') }}
{%- set totals = adapter.get_relation(database=this.database, schema='intermediate', identifier='int_user_track_weeks') %}
with users as (
    select user_id, user_name, {{ effective_timezone('timezone') }} as timezone from {{ source('sidetrack', 'users') }}
),

per_track as (
    {%- if totals is not none %}
    select user_id, track_id
    from {{ totals }}
    {%- else %}
    select user_id, track_id
    from {{ ref('int_user_week_tracks') }}
    group by user_id, track_id
    {%- endif %}
),

tracks as (
    select
        per_track.user_id,
        count(*) as unique_tracks,
        count(distinct profile.artist_id) as unique_artists,
        count(*) filter (where profile.analysed) as analysed_tracks
    from per_track
    inner join {{ ref('int_track_profile') }} as profile on profile.track_id = per_track.track_id
    group by per_track.user_id
),

weeks as (
    select
        user_id,
        sum(listens)::bigint as listens,
        count(*) as weeks,
        min(week) as first_week,
        max(week) as last_week
    from {{ ref('int_overview_user_week') }}
    group by user_id
)

select
    users.user_id,
    users.user_name,
    users.timezone,
    coalesce(weeks.listens, 0) as listens,
    coalesce(tracks.unique_tracks, 0) as unique_tracks,
    coalesce(tracks.unique_artists, 0) as unique_artists,
    coalesce(weeks.weeks, 0) as weeks,
    weeks.first_week,
    weeks.last_week,
    coalesce(tracks.analysed_tracks, 0) as analysed_tracks
from users
left join weeks on weeks.user_id = users.user_id
left join tracks on tracks.user_id = users.user_id
