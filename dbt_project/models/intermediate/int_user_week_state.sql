-- The listen fingerprint of every user-week as of the last build of the weekly models
-- (int_user_week_changes compares the current fingerprints with these to find dirty weeks).
-- Written last, after every weekly model: if one of them fails, dbt skips this model and the next
-- run finds the same weeks dirty again. With week_start / week_end only that range's weeks are
-- replaced; without, every dirty week (or everything on a full rebuild). A state with other
-- fingerprint columns (written by an older version) gets this model's columns
-- (on_schema_change), after int_user_week_changes ignored it and rebuilt every week.
-- depends_on: {{ ref('int_user_week_changes') }}
-- depends_on: {{ ref('int_user_week_tracks') }}
-- depends_on: {{ ref('int_mood_user_week') }}
-- depends_on: {{ ref('int_overview_user_week') }}
-- depends_on: {{ ref('mart_mood_shares') }}
-- depends_on: {{ ref('mart_listens_week') }}
-- depends_on: {{ ref('int_artist_user_week') }}
-- depends_on: {{ ref('int_label_user_week') }}
-- depends_on: {{ ref('int_vibe_user_week') }}
{{ config(materialized='incremental', incremental_strategy='user_week', tags=['weekly'],
          on_schema_change='sync_all_columns',
          indexes=[{'columns': ['user_id', 'week'], 'unique': true}]) }}

select
    changes.user_id,
    changes.week,
    changes.user_name,
    changes.timezone,
    changes.n_listens,
    changes.track_sum,
    changes.track_hash,
    changes.track_hash2
from {{ ref('int_user_week_changes') }} as changes
where changes.n_listens > 0
  and {{ dirty_weeks_filter('changes') }}
