-- Which user-weeks the weekly models rebuild in this run (`dirty`), and the listen fingerprint
-- of each user-week as it stands now (int_user_week_state keeps it for the next run).
--
-- With the vars week_start / week_end (a partition range: Mondays, end exclusive): every user ×
-- every week in the range is dirty, whatever changed; nothing else is looked at. Their listens
-- are found through listen's (user_id, played_at, track_id) index.
--
-- Without the vars (incremental by change detection; one pass over `listen`): a user-week is dirty
-- when its fingerprint differs from the one stored by the last build (int_user_week_state):
--   n_listens, track_sum = sum(track_id), track_hash / track_hash2 = two sums of hashed track_ids
--   (week_fingerprints(): the multiset of the week's track_ids, which is all the weekly models
--   read of a week's listens), and the user's name and effective time zone.
-- That catches every change to listen without triggers: new listens (of any day, also late
-- imports into old weeks), deleted listens (duplicates), listen.track_id updated by a track merge
-- (track_sum / the hashes), and a time-zone change (the current zone applies to the whole history,
-- so every week of that user moves: the old weeks exist only in the state, the new ones only now,
-- both are dirty; the zone is part of the fingerprint too). A user-week is also dirty when one of
-- its tracks changed since the last build: its int_track_profile fingerprint (artist, preferred
-- scores, dominant mood, vector) differs from int_track_profile_snapshot (recomputed or deleted
-- mood_scores, a new artist, ...), or the track is new or gone. Weeks only in the state (all their
-- listens gone) are dirty, so their rows are deleted.
-- full_rebuild (same on every row): there is no state or snapshot yet (first build, or after a
-- range-only backfill the snapshot is missing): the weekly models then replace all their rows.
--
-- The weeks holding a changed track are looked up in int_user_week_tracks as the last run left it
-- (by name, like the state tables: a ref would be a cycle), not by joining every listen to the
-- changed tracks; see weeks_with_changed_tracks. Without that table (dropped by hand) the run
-- counts as a first build.
-- The state tables are read by name, not ref(): they are written at the end of the run, after
-- the weekly models (a ref would be a cycle).
-- Its post-hooks: ANALYZE (the weekly models join the few dirty rows to their inputs' (user_id,
-- week) indexes; without statistics on this new table the planner assumed hundreds and scanned
-- whole tables), then user_week_log_record() (macros/summary_incremental.sql) records this run's
-- dirty user-weeks (or a full marker) in the rebuild log intermediate.int_user_week_log, which
-- the incremental summary marts read.
-- The current fingerprints come from int_user_week_fingerprints (one index range of listen per
-- user-week; its own model so that it runs while int_track_profile is rebuilt).
-- depends_on: {{ ref('int_track_profile') }}
{{ config(materialized='table', tags=['weekly'],
          post_hook=["analyze {{ this }}", "{{ user_week_log_record() }}"],
          indexes=[{'columns': ['user_id', 'week'], 'unique': true}]) }}
{%- set range = weekly_range() %}
{%- set state = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_user_week_state') %}
{%- set snapshot = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_track_profile_snapshot') %}
{%- set uwt = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_user_week_tracks') %}
{%- if uwt is none %}{% set snapshot = none %}{% endif %}
{%- if state is not none and execute %}
    {#- a state written before the fingerprint's current columns: as if there were none (every
        week is rebuilt once; int_user_week_state syncs its columns) -#}
    {%- set state_columns = adapter.get_columns_in_relation(state) | map(attribute='name') | list %}
    {%- if 'track_hash2' not in state_columns %}{% set state = none %}{% endif %}
{%- endif %}

{% if range %}
select
    user_id,
    week,
    user_name,
    timezone,
    n_listens,
    track_sum,
    track_hash,
    track_hash2,
    true as dirty,
    false as full_rebuild
from {{ ref('int_user_week_fingerprints') }}

{% else %}
{%- if snapshot is not none %}
with changed_tracks as (
    select coalesce(cur.track_id, prev.track_id) as track_id
    from {{ ref('int_track_profile') }} as cur
    full join {{ snapshot }} as prev on prev.track_id = cur.track_id
    where cur.fingerprint is distinct from prev.fingerprint
),

-- the user-weeks that held a changed track at the last build (int_user_week_tracks as the last
-- run left it). A week whose listens are unchanged holds exactly the tracks it held then; a week
-- whose listens changed is dirty by its fingerprint anyway. So this finds every week with a
-- changed track without joining every listen to the changed tracks.
weeks_with_changed_tracks as (
    select distinct uwt.user_id, uwt.week
    from {{ uwt }} as uwt
    where uwt.track_id in (select track_id from changed_tracks)
)
{%- endif %}

select
    coalesce(cur.user_id, prev.user_id) as user_id,
    coalesce(cur.week, prev.week) as week,
    cur.user_name,
    cur.timezone,
    coalesce(cur.n_listens, 0) as n_listens,
    cur.track_sum,
    cur.track_hash,
    cur.track_hash2,
    {%- if state is not none and snapshot is not none %}
    (
        cur.user_id is null
        or prev.user_id is null
        or exists (
            select 1 from weeks_with_changed_tracks as changed
            where changed.user_id = cur.user_id and changed.week = cur.week
        )
        or (cur.n_listens, cur.track_sum, cur.track_hash, cur.track_hash2, cur.user_name, cur.timezone)
           is distinct from
           (prev.n_listens, prev.track_sum, prev.track_hash, prev.track_hash2, prev.user_name, prev.timezone)
    ) as dirty,
    false as full_rebuild
    {%- else %}
    true as dirty,
    true as full_rebuild
    {%- endif %}
from {{ ref('int_user_week_fingerprints') }} as cur
{%- if state is not none %}
full join {{ state }} as prev on prev.user_id = cur.user_id and prev.week = cur.week
{%- else %}
left join (select null::integer as user_id, null::date as week) as prev on false
{%- endif %}
{% endif %}
