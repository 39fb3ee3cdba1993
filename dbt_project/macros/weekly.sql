{#-
    Weekly (incremental) models: the shared rules. See README.md, "Weekly and full-history models".

    * weekly_range(): the partition range from the vars week_start / week_end (Mondays, start
      inclusive, end exclusive), or else from the environment variables SIDETRACK_WEEK_START /
      SIDETRACK_WEEK_END, as {'start': 'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}, or none when neither is
      set (then weekly models are incremental by change detection).
    * weekly_restricted(): whether this weekly model computes only some user-weeks: the range
      (with the vars, even when the table does not exist yet) or, without the vars, the user-weeks
      int_user_week_changes marks dirty (only when the table exists: a first build, or
      --full-refresh, computes every week).
    * Strategy 'user_week' (get_incremental_user_week_sql): deletes the target's rows of the dirty
      user-weeks (all rows when int_user_week_changes says full_rebuild) and inserts the new rows,
      in one transaction. dbt's delete+insert would keep the rows of a user-week that has no rows
      any more (all its listens deleted, its scores gone, the user moved to another time zone).
-#}

{% macro weekly_range() -%}
    {%- set start = var('week_start', none) -%}
    {%- set end = var('week_end', none) -%}
    {%- if start is none and end is none and execute -%}
        {#- Fallback: the environment variables SIDETRACK_WEEK_START / SIDETRACK_WEEK_END (the vars
            win when set). Read only when executing, never while parsing: dbt's partial parsing is
            keyed on the vars (any change re-parses the whole project) and re-parses the files that
            read a changed env var at parse time, so a range passed this way costs no re-parse. The
            parse does not depend on the range (the weekly models' refs are all in depends_on
            comments). -#}
        {%- set start = env_var('SIDETRACK_WEEK_START', '') | trim or none -%}
        {%- set end = env_var('SIDETRACK_WEEK_END', '') | trim or none -%}
    {%- endif -%}
    {%- if start is none and end is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if start is none or end is none -%}
        {{ exceptions.raise_compiler_error("week_start and week_end go together (Mondays, end exclusive)") }}
    {%- endif -%}
    {%- set bounds = [] -%}
    {%- for value in [start, end] -%}
        {%- set text = (value | string)[:10] -%}
        {%- set day = modules.datetime.date.fromisoformat(text) -%}
        {%- if day.weekday() != 0 -%}
            {{ exceptions.raise_compiler_error("week_start / week_end must be Mondays, got " ~ text) }}
        {%- endif -%}
        {%- do bounds.append(text) -%}
    {%- endfor -%}
    {%- if bounds[0] >= bounds[1] -%}
        {{ exceptions.raise_compiler_error("week_start must be before week_end, got " ~ bounds[0] ~ " .. " ~ bounds[1]) }}
    {%- endif -%}
    {{ return({'start': bounds[0], 'end': bounds[1]}) }}
{%- endmacro %}


{% macro weekly_restricted() -%}
    {{ return(weekly_range() is not none or is_incremental()) }}
{%- endmacro %}


{#- Monday (local date) of the ISO week of instant `ts` in time zone `tz`; DST-exact. -#}
{% macro local_week(ts, tz) -%}
    date_trunc('week', ({{ ts }}) at time zone ({{ tz }}))::date
{%- endmacro %}


{#- The time zone dbt uses for a users.timezone value: the name if PostgreSQL knows it, else UTC. -#}
{% macro effective_timezone(column) -%}
    case
        when {{ column }} in (select name from pg_catalog.pg_timezone_names) then {{ column }}
        else 'UTC'
    end
{%- endmacro %}


{#-
    listen rows of user-week (user_id, week) of relation alias `weeks` (which has user_id, week,
    timezone), through listen's (user_id, played_at, ...) unique index: the UTC window
    [week - 2 days, week + 9 days) holds every instant whose local date (any offset up to +-26 h)
    is in the week, and the exact local week is then checked.
-#}
{% macro listens_of_weeks_join(weeks, listen) -%}
    {{ listen }}.user_id = {{ weeks }}.user_id
    and {{ listen }}.played_at >= ({{ weeks }}.week - 2)::timestamp at time zone 'UTC'
    and {{ listen }}.played_at < ({{ weeks }}.week + 9)::timestamp at time zone 'UTC'
    and {{ local_week(listen ~ '.played_at', weeks ~ '.timezone') }} = {{ weeks }}.week
{%- endmacro %}


{#-
    The listen fingerprint of each user-week of relation alias `weeks` (user_id, week, timezone,
    and the bounds of week_fingerprint_bounds()), as a LATERAL subquery `fp` (n_listens,
    track_sum, track_hash, track_hash2): the count, the sum of track_id and two sums of 32-bit
    hashes of track_id over the week's listens. The weekly models depend on a user-week's listens
    only through its multiset of track_ids, which these sums stand for (a replaced listen with the
    same track and week changes nothing downstream).

    Read through listen's unique (user_id, played_at, track_id) index, one range per user-week (an
    index-only scan where the visibility map allows), no hash aggregation over the listens (the
    planner could not estimate the number of user-weeks and sized a hash table for millions): the
    UTC window [week - 16 h, week + 7 days + 16 h) holds every instant whose local date is in the
    week, for any UTC offset within +-16 h (every offset of the tz database lies within -15:56 and
    +14:58, local mean times of the 19th century included). Its core [week + 16 h, week + 7 days -
    16 h) is in the week whatever the offset; only the 16 h at each end are converted to local time
    and checked, exactly as local_week() does.
-#}
{% macro week_fingerprint_bounds(week) -%}
    ({{ week }} - interval '16 hours') at time zone 'UTC' as fp_from,
    ({{ week }} + interval '16 hours') at time zone 'UTC' as fp_core_from,
    ({{ week }} + interval '152 hours') at time zone 'UTC' as fp_core_to,
    ({{ week }} + interval '184 hours') at time zone 'UTC' as fp_to
{%- endmacro %}


{% macro week_fingerprints(weeks) -%}
lateral (
    select
        count(*) as n_listens,
        coalesce(sum(fp_listen.track_id), 0) as track_sum,
        coalesce(sum(hashint4(fp_listen.track_id)), 0) as track_hash,
        coalesce(sum(hashint4(fp_listen.track_id # 1431655765)), 0) as track_hash2
    from {{ source('sidetrack', 'listen') }} as fp_listen
    where fp_listen.user_id = {{ weeks }}.user_id
      and fp_listen.played_at >= {{ weeks }}.fp_from
      and fp_listen.played_at < {{ weeks }}.fp_to
      and (
          (fp_listen.played_at >= {{ weeks }}.fp_core_from and fp_listen.played_at < {{ weeks }}.fp_core_to)
          or {{ local_week('fp_listen.played_at', weeks ~ '.timezone') }} = {{ weeks }}.week
      )
) as fp
{%- endmacro %}


{#- Restrict a weekly model's input `alias` (with user_id, week) to the user-weeks being rebuilt. -#}
{% macro dirty_weeks_filter(alias) -%}
    {%- if weekly_restricted() %}
    exists (
        select 1 from {{ ref('int_user_week_changes') }} as dirty_weeks
        where dirty_weeks.dirty
          and dirty_weeks.user_id = {{ alias }}.user_id
          and dirty_weeks.week = {{ alias }}.week
    )
    {%- else %}
    true
    {%- endif %}
{%- endmacro %}


{#-
    A weekly model's input rows: `relation` (with user_id, week and a (user_id, week, ...) index)
    restricted to the user-weeks being rebuilt, as a subquery. Restricted, the rows are fetched
    per dirty user-week through the index (a LATERAL join kept from being flattened: with a
    plain join the planner estimated ~20,000 rows per user-week and scanned the whole table for
    five of them);
    unrestricted (first build, --full-refresh), the whole relation.
-#}
{% macro dirty_rows(relation) -%}
    {%- if weekly_restricted() -%}
    (
        select dirty_rows.*
        from {{ ref('int_user_week_changes') }} as dirty_weeks
        cross join lateral (
            select * from {{ relation }} as dirty_input
            where dirty_input.user_id = dirty_weeks.user_id and dirty_input.week = dirty_weeks.week
            offset 0  -- keeps the planner from flattening this into a hash join over the whole table
        ) as dirty_rows
        where dirty_weeks.dirty
    )
    {%- else -%}
    {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#-
    Bookkeeping of int_user_week_tracks (config track_totals=true):
    `intermediate.int_user_track_weeks (user_id, track_id, weeks)`, the number of local weeks in
    which the user played the track, i.e. int_user_week_tracks counted per (user, track), kept in
    step with it in the same transaction: the strategy subtracts the rebuilt user-weeks' old rows
    and adds their new ones (integer counts, exact); a table created anew (first build,
    --full-refresh) or a full rebuild recounts it from the table. mart_overview reads it for the
    distinct tracks and artists of each user instead of grouping ~a million user × week × track
    rows on every build.
-#}
{% macro user_track_totals_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema=generate_schema_name('intermediate', none) | trim,
                                  identifier='int_user_track_weeks')) }}
{%- endmacro %}


{#- (re)create the totals from `source` (a relation or subquery with user_id, track_id rows) -#}
{% macro user_track_totals_reset(source) -%}
    {%- set totals = user_track_totals_relation() -%}
    do $totals$
    begin
        if to_regclass('{{ totals }}') is null then
            create table {{ totals }} (user_id integer not null, track_id integer not null, weeks integer not null);
            create unique index int_user_track_weeks_key on {{ totals }} (user_id, track_id);
            create index int_user_track_weeks_zero on {{ totals }} (user_id) where weeks = 0;
        end if;
    end
    $totals$;
    delete from {{ totals }};
    insert into {{ totals }} (user_id, track_id, weeks)
    select user_id, track_id, count(*) from {{ source }} as rows group by user_id, track_id;
    analyze {{ totals }};
{%- endmacro %}


{#- In the user_week strategy, before the target's rows are replaced: old rows out, new rows in. -#}
{% macro user_track_totals_record(target, temp, changes) -%}
    {%- set totals = user_track_totals_relation() %}
    insert into {{ totals }} as totals (user_id, track_id, weeks)
    select user_id, track_id, sum(delta)
    from (
        select target.user_id, target.track_id, -1 as delta
        from {{ target }} as target
        inner join {{ changes }} as c on c.dirty and c.user_id = target.user_id and c.week = target.week
        union all
        select user_id, track_id, 1 as delta from {{ temp }}
    ) as changed
    group by user_id, track_id
    having sum(delta) <> 0
    on conflict (user_id, track_id) do update set weeks = totals.weeks + excluded.weeks;
    delete from {{ totals }} where weeks = 0;
{%- endmacro %}


{% macro get_incremental_user_week_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set changes = ref('int_user_week_changes') -%}
    {#- decided here, not in SQL: "delete where full_rebuild or (dirty and same user-week)" cannot
        use the (user_id, week) index and scanned the whole table on every run -#}
    {%- set full = run_query("select coalesce(bool_or(full_rebuild), false) from " ~ changes).columns[0].values()[0] -%}
    {%- set totals_reset = config.get('track_totals', false) and (full or run_query(
            "select to_regclass('" ~ user_track_totals_relation() ~ "') is null").rows[0][0]) -%}
    {%- if config.get('pair_log', false) %}
    {{ artist_pair_log_record(target, temp, columns, changes, full) }}
    {%- endif %}
    {%- if config.get('track_totals', false) and not totals_reset %}
    {{ user_track_totals_record(target, temp, changes) }}
    {%- endif %}
    {%- if full %}
    delete from {{ target }};
    {%- else %}
    delete from {{ target }} as target
    using {{ changes }} as c
    where c.dirty and c.user_id = target.user_id and c.week = target.week;
    {%- endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }};
    {%- if totals_reset %}
    {{ user_track_totals_reset(target) }}
    {%- endif %}
{%- endmacro %}


{#- Post-hook of int_user_week_tracks: a table created anew (first build, --full-refresh) recounts
    the totals. -#}
{% macro user_track_totals_full_if_new() -%}
    {%- if not is_incremental() -%}
    {{ user_track_totals_reset(this) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#-
    Strategy 'replace_unless_range' (int_track_profile_snapshot, one row per track and key
    `track_id`): without the week vars, the table becomes the new rows: the rows that are not among
    the new ones are deleted and the new rows not yet there inserted, one transaction (only the
    changed tracks are written, not all of them every run); with the vars, it is left as it is (a
    range run must not mark tracks as seen in weeks it did not rebuild).
-#}
{% macro get_incremental_replace_unless_range_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set names = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set columns = get_quoted_csv(names) -%}
    {%- if weekly_range() is none -%}
    delete from {{ target }} as target
    where not exists (
        select 1 from {{ temp }} as fresh
        where fresh.track_id = target.track_id
        {%- for name in names if name != 'track_id' %}
          and fresh.{{ adapter.quote(name) }} is not distinct from target.{{ adapter.quote(name) }}
        {%- endfor %}
    );
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }} as fresh
    where not exists (select 1 from {{ target }} as target where target.track_id = fresh.track_id);
    {%- else -%}
    select 1;
    {%- endif -%}
{%- endmacro %}


{#-
    Post-hook of the weekly tables: ANALYZE the table when it has no statistics yet (just created:
    a first build, --full-refresh, a first range run) or when this run rebuilt many user-weeks
    (more than 60: a time-zone change, a re-scored library). The models downstream are planned
    right after, before autovacuum gets to the table; without statistics the planner took
    mart_label_influence from 4 s to 20 s on the 1M-listen benchmark. An incremental run of a few
    dirty weeks skips it (autovacuum keeps the statistics).
-#}
{% macro weekly_analyze() -%}
    do $weekly_analyze$
    begin
        if not exists (
               select 1 from pg_catalog.pg_stat_user_tables
               where relid = '{{ this }}'::regclass
                 and coalesce(last_analyze, last_autoanalyze) is not null
           )
           or (select count(*) from {{ ref('int_user_week_changes') }} where dirty) > 60
        then
            analyze {{ this }};
        end if;
    end
    $weekly_analyze$
{%- endmacro %}
