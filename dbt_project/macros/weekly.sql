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


{#- The per user-week listen fingerprint (aggregates over the week's listen rows `l`). -#}
{% macro listen_fingerprint(l) -%}
    count({{ l }}.listen_id) as n_listens,
    coalesce(sum({{ l }}.track_id), 0) as track_sum,
    coalesce(sum(hashint8({{ l }}.listen_id)), 0) as listen_hash,
    coalesce(sum(hashint8(({{ l }}.listen_id << 24) # {{ l }}.track_id::bigint)), 0) as pair_hash
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


{% macro get_incremental_user_week_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set changes = ref('int_user_week_changes') -%}
    delete from {{ target }} as target
    where exists (select 1 from {{ changes }} as c where c.full_rebuild)
       or exists (
            select 1 from {{ changes }} as c
            where c.dirty and c.user_id = target.user_id and c.week = target.week
       );
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }};
{%- endmacro %}


{#-
    Strategy 'replace_unless_range': without the week vars, the table becomes the new rows
    (delete all + insert, one transaction); with them, it is left as it is (a range run must not
    mark tracks as seen in weeks it did not rebuild).
-#}
{% macro get_incremental_replace_unless_range_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if weekly_range() is none -%}
    delete from {{ target }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }};
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
