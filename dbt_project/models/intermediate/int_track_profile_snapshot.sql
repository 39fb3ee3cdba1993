-- The int_track_profile fingerprint of every track as of the last build of the weekly models
-- without week vars: int_user_week_changes marks a user-week dirty when one of its tracks'
-- fingerprints differs from this snapshot. Written last (after every weekly model). A range run
-- (week_start / week_end) leaves it as it is (strategy 'replace_unless_range'): it rebuilt only
-- some weeks, so the other weeks must still see the tracks as changed. Created empty by a first
-- range run, so the next run without vars rebuilds every week.
-- depends_on: {{ ref('int_user_week_tracks') }}
-- depends_on: {{ ref('int_mood_user_week') }}
-- depends_on: {{ ref('int_overview_user_week') }}
-- depends_on: {{ ref('mart_mood_shares') }}
-- depends_on: {{ ref('mart_listens_week') }}
-- depends_on: {{ ref('int_artist_user_week') }}
-- depends_on: {{ ref('int_label_user_week') }}
-- depends_on: {{ ref('int_vibe_user_week') }}
-- depends_on: {{ ref('int_user_week_state') }}
{{ config(materialized='incremental', incremental_strategy='replace_unless_range', tags=['weekly'],
          indexes=[{'columns': ['track_id'], 'unique': true}]) }}

select track_id, fingerprint
from {{ ref('int_track_profile') }}
{%- if weekly_range() is not none %}
where false
{%- endif %}
