{#-
    Incremental full-history summary tables (mart_label_influence, int_artist_drift under the view
    mart_artist_drift). See README.md,
    "Incremental summary marts".

    The weekly runs record which user-weeks they rebuilt in the rebuild log
    `intermediate.int_user_week_log` (user_id, week, seq), written by int_user_week_changes'
    post-hook (user_week_log_record()) in the same transaction as the dirty set:
      * seq = pg_current_xact_id() of that transaction: increases from run to run (64-bit, never
        wraps), so it orders the weekly runs (two weekly runs never run at the same time);
      * one row per user-week that was ever rebuilt, with the seq of its last rebuild (upsert); a
        user-week that vanished (all its listens gone, moved by a time-zone change) is dirty in
        that run, so it is logged too: a tombstone;
      * a full marker (user_id and week null) when the run rebuilt the weekly tables from scratch
        (first build, `--full-refresh`, a weekly table created anew): it replaces all rows, since
        every consumer must then recompute everything anyway.
    Each summary mart keeps its own high-water mark in `intermediate.summary_mart_marks` (model,
    seq, fingerprint): the largest seq of the log when it last built (written by its post-hook,
    in the mart's own transaction, so a failed build leaves the old mark). On the next build it
    recomputes only what depends on the user-weeks logged after that mark, whatever the weekly
    runs in between were (plain builds, any number of range runs). It recomputes everything when
    its table is new (first build, --full-refresh), there is no log or no mark yet, the log has a
    full marker newer than the mark, or the fingerprint changed (the names the mart copies that
    the weekly tables do not carry: artist and label names; and the vars it depends on).
-#}

{% macro user_week_log_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema=generate_schema_name('intermediate', none) | trim,
                                  identifier='int_user_week_log')) }}
{%- endmacro %}


{% macro artist_pair_log_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema=generate_schema_name('intermediate', none) | trim,
                                  identifier='int_artist_pair_log')) }}
{%- endmacro %}


{% macro summary_marks_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema=generate_schema_name('intermediate', none) | trim,
                                  identifier='summary_mart_marks')) }}
{%- endmacro %}


{% macro user_week_log_ensure(log) -%}
    create table if not exists {{ log }} (user_id integer, week date, seq bigint not null);
    create unique index if not exists int_user_week_log_key on {{ log }} (user_id, week);
{%- endmacro %}


{#- Post-hook of int_user_week_changes: log this run's dirty user-weeks (or a full marker). -#}
{% macro user_week_log_record() -%}
    {%- set log = user_week_log_relation() -%}
    {%- set full_refresh = 'true' if flags.FULL_REFRESH else 'false' -%}
    {{ user_week_log_ensure(log) }}
    delete from {{ log }}
    where {{ full_refresh }} or exists (select 1 from {{ this }} where full_rebuild);
    insert into {{ log }} (user_id, week, seq)
    select null, null, pg_current_xact_id()::text::bigint
    where {{ full_refresh }} or exists (select 1 from {{ this }} where full_rebuild);
    insert into {{ log }} (user_id, week, seq)
    select user_id, week, pg_current_xact_id()::text::bigint
    from {{ this }}
    where dirty
      and not {{ full_refresh }}
      and not exists (select 1 from {{ this }} where full_rebuild)
    on conflict (user_id, week) do update set seq = excluded.seq
{%- endmacro %}


{#- Post-hook of the weekly tables the summary marts read: a table created anew (dropped by hand,
    or --full-refresh) holds rows that no dirty set lists, so log a full marker. -#}
{% macro user_week_log_full_if_new() -%}
    {%- if not is_incremental() -%}
    {%- set log = user_week_log_relation() -%}
    {#- No DDL here (these hooks run in parallel: a create index would deadlock with the inserts).
        Without a log (never created by int_user_week_changes' hook) there is nothing to mark:
        the summary marts then recompute everything anyway. -#}
    do $log_full$
    begin
        if to_regclass('{{ log }}') is not null then
            insert into {{ log }} (user_id, week, seq) values (null, null, pg_current_xact_id()::text::bigint);
        end if;
    end
    $log_full$
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#-
    The artist pair log `intermediate.int_artist_pair_log (user_id, artist_id, seq)`: written by
    int_artist_user_week's strategy (config pair_log=true) in the transaction that replaces its
    rows, it records every (user, artist) pair whose rows in int_artist_user_week changed in any
    way (a week of the pair added, removed, or with other listens or sums), with seq =
    pg_current_xact_id() of that transaction (upserted: one row per pair, its last change). The
    rows of a rebuilt user-week are compared with what they were (EXCEPT ALL both ways), so the
    pairs of a rebuilt week whose rows came out the same are not logged: a new day of listens
    changes the artists heard that day, not every artist of the week. (A recomputed sum that
    differs in the last bit only logs a pair too many, never one too few.) When the table is
    created, and when the weekly tables are replaced as a whole (full_rebuild), a full marker
    (user_id and artist_id null) replaces the log. int_artist_drift recomputes the pairs logged
    after its mark.
-#}
{% macro artist_pair_log_record(target, temp, columns, changes, full) -%}
    {%- set log = artist_pair_log_relation() -%}
    do $pair_log$
    begin
        if to_regclass('{{ log }}') is null then
            create table {{ log }} (user_id integer, artist_id integer, seq bigint not null);
            create unique index int_artist_pair_log_key on {{ log }} (user_id, artist_id);
            insert into {{ log }} (user_id, artist_id, seq) values (null, null, pg_current_xact_id()::text::bigint);
        end if;
    end
    $pair_log$;
    {%- if full %}
    delete from {{ log }};
    insert into {{ log }} (user_id, artist_id, seq) values (null, null, pg_current_xact_id()::text::bigint);
    {%- else %}
    insert into {{ log }} (user_id, artist_id, seq)
    with old_rows as (
        select target.*
        from {{ target }} as target
        inner join {{ changes }} as c on c.dirty and c.user_id = target.user_id and c.week = target.week
    )
    select distinct changed.user_id, changed.artist_id, pg_current_xact_id()::text::bigint
    from (
        (select {{ columns }} from old_rows except all select {{ columns }} from {{ temp }})
        union all
        (select {{ columns }} from {{ temp }} except all select {{ columns }} from old_rows)
    ) as changed
    on conflict (user_id, artist_id) do update set seq = excluded.seq;
    {%- endif %}
{%- endmacro %}


{#- Post-hook of int_artist_user_week: a table created anew (first build, --full-refresh, dropped
    by hand) starts the pair log over with a full marker. -#}
{% macro artist_pair_log_full_if_new() -%}
    {%- if not is_incremental() -%}
    {%- set log = artist_pair_log_relation() -%}
    do $pair_log$
    begin
        if to_regclass('{{ log }}') is null then
            create table {{ log }} (user_id integer, artist_id integer, seq bigint not null);
            create unique index int_artist_pair_log_key on {{ log }} (user_id, artist_id);
        end if;
        delete from {{ log }};
        insert into {{ log }} (user_id, artist_id, seq) values (null, null, pg_current_xact_id()::text::bigint);
    end
    $pair_log$
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- The fingerprint of what a summary mart copies that the log does not track: artist and label
    names, and `extra` (its vars). int_artist_drift copies no names (mart_artist_drift, a view,
    joins them): only its vars. -#}
{% macro summary_fingerprint_sql(extra) -%}
    select md5(concat_ws('|',
        {{ dbt.string_literal(extra) }}
        {%- if this.identifier != 'int_artist_drift' %},
        (select string_agg(artist_id || ':' || name, ',' order by artist_id)
         from {{ source('sidetrack', 'artist') }}),
        (select string_agg(label_id || ':' || name, ',' order by label_id)
         from {{ source('sidetrack_musicbrainz', 'label') }})
        {%- endif %}
    )) as fingerprint
{%- endmacro %}


{#-
    At execution: {'partial': whether only the changes since the mart's mark are recomputed,
    'lo': the mark, 'hi': the log's largest seq now, 'fingerprint': ...}. While parsing: not partial.
-#}
{% macro summary_scope(extra) -%}
    {%- set result = {'partial': false, 'lo': 0, 'hi': 0, 'fingerprint': ''} -%}
    {%- if not execute -%}
        {{ return(result) }}
    {%- endif -%}
    {%- set log = user_week_log_relation() -%}
    {%- set marks = summary_marks_relation() -%}
    {%- set pairs = artist_pair_log_relation() -%}
    {%- set drift = this.identifier == 'int_artist_drift' -%}
    {#- (to_regclass, not adapter.get_relation: dbt's relation cache is filled at the start of the
        run, before the hooks create these tables. Few queries: a scope is decided three times per
        build, by the model, its strategy and its post-hook.) -#}
    {%- set first = run_query("select (" ~ summary_fingerprint_sql(extra) ~ "), to_regclass('" ~ log
                              ~ "') is not null, to_regclass('" ~ marks ~ "') is not null, to_regclass('"
                              ~ pairs ~ "') is not null").rows[0] -%}
    {%- do result.update({'fingerprint': first[0]}) -%}
    {%- if not first[1] or (drift and not first[3]) -%}
        {#- no rebuild log (or, for the drift, no artist pair log) yet: everything -#}
        {{ return(result) }}
    {%- endif -%}
    {#- the log's (and the pair log's) largest seq and latest full marker, and this model's mark:
        the drift follows the artist pair log, which int_artist_user_week writes after the rebuild
        log in the same runs, so its mark covers both -#}
    {%- set with_mark = first[2] and is_incremental() -%}
    {%- set mark_sql = ("(select seq from " ~ marks ~ " where model = '" ~ this.identifier ~ "'), (select fingerprint from "
                        ~ marks ~ " where model = '" ~ this.identifier ~ "')") if with_mark else "null::bigint, null::text" -%}
    {%- set logs = ("(select user_id, seq from " ~ log ~ " union all select user_id, seq from " ~ pairs ~ ") as logs") if drift else log -%}
    {%- set row = run_query("select coalesce(max(seq), 0), coalesce(max(seq) filter (where user_id is null), 0), "
                            ~ mark_sql ~ " from " ~ logs).rows[0] -%}
    {%- do result.update({'hi': row[0] | int}) -%}
    {%- if row[2] is none or row[3] != first[0] or (row[1] | int) > (row[2] | int) -%}
        {{ return(result) }}
    {%- endif -%}
    {%- set lo = row[2] | int -%}
    {%- if drift -%}
        {#- A pair is recomputed from all its weeks: when the changes reach more than
            var('artist_drift_partial_max_share') (a quarter) of the pairs, one pass over
            everything is cheaper than picking the pairs. Decided here, before anything is
            written, so the model, the strategy and the hooks agree. (The pairs in the table: its
            row estimate over the axes when it has one, kept current by autovacuum: the share is a
            cost heuristic, an estimate costs no scan; else counted.) -#}
        {%- set counts = run_query("select (select count(*) from (" ~ artist_drift_affected_pairs(lo)
                                   ~ ") as affected), coalesce((select reltuples / " ~ (var('axes') | length)
                                   ~ " from pg_class where oid = '" ~ this ~ "'::regclass and reltuples >= 0), "
                                   ~ "(select count(*) from (select distinct user_id, artist_id from " ~ this ~ ") as pairs))").rows[0] -%}
        {%- if (counts[0] | int) > (counts[1] | float) * (var('artist_drift_partial_max_share', 0.25) | float) -%}
            {{ return(result) }}
        {%- endif -%}
    {%- endif -%}
    {%- do result.update({'partial': true, 'lo': lo}) -%}
    {{ return(result) }}
{%- endmacro %}


{#- Post-hook of a summary mart: store its mark (the log's seq it is now up to date with), and
    in the row '<model>:scope' the mark this build started from when it recomputed only what
    changed after it (-1 when it recomputed everything). The data tests of these tables read the
    scope row (their `where` configs) and check only the rows this build rewrote, or every row
    after a full recompute. (A row, not a column: adding a column to the existing table in these
    hooks, which run in parallel, deadlocked.) -#}
{% macro summary_mark_store(extra) -%}
    {%- set scope = summary_scope(extra) -%}
    {%- set marks = summary_marks_relation() -%}
    -- (the two marts' hooks run in parallel: the lock, held to the end of the transaction, keeps
    -- two concurrent "create table if not exists" from colliding in the catalog)
    select pg_advisory_xact_lock(hashtext('{{ marks }}'));
    create table if not exists {{ marks }} (model text primary key, seq bigint not null, fingerprint text not null);
    insert into {{ marks }} (model, seq, fingerprint)
    values ('{{ this.identifier }}', {{ scope.hi }}, '{{ scope.fingerprint }}'),
           ('{{ this.identifier }}:scope', {{ scope.lo if scope.partial else -1 }}, '')
    on conflict (model) do update set seq = excluded.seq, fingerprint = excluded.fingerprint
{%- endmacro %}


{#- The user-weeks logged after the mark `lo` (tombstones included), as a subquery. -#}
{% macro summary_changed_weeks(lo) -%}
    (select user_id, week from {{ user_week_log_relation() }} where seq > {{ lo }} and user_id is not null)
{%- endmacro %}


{#-
    Strategy 'summary_delta': partial: delete the target's rows that the model recomputed (the
    model's `summary_delete_predicate`, on the target's rows before the insert), insert the new
    rows; not partial: all
    rows replaced.
-#}
{% macro get_incremental_summary_delta_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set scope = summary_scope(config.get('summary_fingerprint', '')) -%}
    {%- if scope.partial %}
    delete from {{ target }} as target
    where {{ summary_delete_predicate(model.name, 'target', scope.lo) }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }};
    {%- else %}
    delete from {{ target }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }};
    {%- endif %}
{%- endmacro %}


{#- Which of the target's rows (alias t) a partial build recomputes. -#}
{% macro summary_delete_predicate(name, t, lo) -%}
    {%- if name == 'mart_label_influence' -%}
    {#- week c changed: weeks c .. c + 26 weeks (their baseline window holds c) -#}
    exists (
        select 1 from {{ summary_changed_weeks(lo) }} as changed
        where changed.user_id = {{ t }}.user_id
          and {{ t }}.week between changed.week and changed.week + 182
    )
    {%- elif name == 'int_artist_drift' -%}
    ({{ t }}.user_id, {{ t }}.artist_id) in ({{ artist_drift_affected_pairs(lo) }})
    {%- else -%}
    {{ exceptions.raise_compiler_error("summary_delta: no delete predicate for " ~ name) }}
    {%- endif -%}
{%- endmacro %}


{#-
    int_artist_drift: the (user, artist) pairs whose rows may have changed since the mark `lo`:
    the pairs of the artist pair log after it (their rows in int_artist_user_week changed).
-#}
{% macro artist_drift_affected_pairs(lo) -%}
    select user_id, artist_id
    from {{ artist_pair_log_relation() }}
    where seq > {{ lo }} and user_id is not null
{%- endmacro %}
