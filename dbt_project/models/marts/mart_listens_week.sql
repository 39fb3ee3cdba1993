-- Listening volume per user × local ISO week (all listens, scored or not).
--
-- Weekly, incremental (strategy 'user_week', macros/weekly.sql): from int_overview_user_week.
-- depends_on: {{ ref('int_user_week_changes') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          post_hook="{{ weekly_analyze() }}",
          indexes=[{'columns': ['user_id', 'week'], 'unique': true}]) }}

with weekly as (
    select *
    from {{ dirty_rows(ref('int_overview_user_week')) }} as ouw
),

users as (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
)

select
    weekly.user_id,
    users.user_name,
    weekly.week,
    weekly.listens,
    weekly.unique_tracks,
    weekly.unique_artists
from weekly
inner join users on users.user_id = weekly.user_id
