{#- Render a list of strings as a SQL list of quoted literals: ('a', 'b'). -#}
{% macro sql_string_list(values) -%}
    ({%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%})
{%- endmacro %}

{#- Position (1 = preferred) of a scoring method in var('axis_method_preference'); null if unlisted. -#}
{% macro method_rank(column) -%}
    case {{ column }}
    {%- for method in var('axis_method_preference') %}
        when '{{ method | replace("'", "''") }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}

{#-
    Post-hook of every model (dbt_project.yml): the model's `checks` config (in its yml: not_null,
    ranges, accepted, unique, the arguments of the row_checks test) as constraints of the table
    itself, so the database checks every row as it is written, in the model's own transaction, and
    no test node reads the table again after each build (a dbt node costs ~0.05 s of bookkeeping
    and holds up the models downstream):
      * not_null: NOT NULL columns;
      * ranges / accepted: one CHECK (each bound or list holds, or the value is null), named after
        a hash of its expression, so a changed expression (e.g. a var in a bound) replaces it;
      * unique: a unique index per key (NULLS NOT DISTINCT: a null is a value here, as in a
        GROUP BY; '(no label)' rows have label_id null).
    An incremental table gets them once (a later build finds them and does nothing); a table
    rebuilt every run gets them every run (its unique indexes named per invocation, the previous
    table still holds the old names until dbt drops it). Views get none. A CHECK whose expression
    changed (a var in a bound) is dropped by the pre-hook row_constraints_prepare(), before the
    model writes rows under the new bound, and the new one added here.
-#}
{% macro row_constraints_parts() -%}
    {%- set checks = config.get('checks') or {} -%}
    {%- set conditions = [] -%}
    {%- for column, bounds in (checks.get('ranges') or {}).items() -%}
        {%- if bounds[0] is not none %}{% do conditions.append('(' ~ column ~ ') >= ' ~ bounds[0]) %}{% endif -%}
        {%- if bounds[1] is not none %}{% do conditions.append('(' ~ column ~ ') <= ' ~ bounds[1]) %}{% endif -%}
    {%- endfor -%}
    {%- for column, values in (checks.get('accepted') or {}).items() -%}
        {%- do conditions.append(column ~ ' in ' ~ sql_string_list(values)) -%}
    {%- endfor -%}
    {%- set check_sql = conditions | join(' and ') -%}
    {%- set prefix = this.identifier[:40] ~ '_chk_' -%}
    {{ return({'checks': checks, 'check_sql': check_sql, 'prefix': prefix, 'name': prefix ~ local_md5(check_sql)[:10]}) }}
{%- endmacro %}


{#- Pre-hook of every model: drop the CHECK of an incremental table whose expression changed. -#}
{% macro row_constraints_prepare() -%}
    {%- set parts = row_constraints_parts() -%}
    {%- if not parts.check_sql or config.get('materialized') != 'incremental' -%}
    select 1
    {%- else -%}
    do $row_constraints$
    declare stale record;
    begin
        if to_regclass('{{ this }}') is not null then
            for stale in select conname from pg_catalog.pg_constraint
                         where conrelid = '{{ this }}'::regclass and contype = 'c'
                           and conname like '{{ parts.prefix }}%' and conname <> '{{ parts.name }}' loop
                execute format('alter table {{ this }} drop constraint %I', stale.conname);
            end loop;
        end if;
    end
    $row_constraints$
    {%- endif -%}
{%- endmacro %}


{% macro row_constraints() -%}
    {%- set parts = row_constraints_parts() -%}
    {%- set checks = parts.checks -%}
    {%- if not checks or config.get('materialized') not in ['table', 'incremental'] -%}
    select 1
    {%- else -%}
    {%- set suffix = '' if config.get('materialized') == 'incremental' else '_' ~ invocation_id[:8] -%}
    do $row_constraints$
    begin
        {%- for column in checks.get('not_null') or [] %}
        if not (select attnotnull from pg_catalog.pg_attribute
                where attrelid = '{{ this }}'::regclass and attname = '{{ column }}') then
            alter table {{ this }} alter column {{ adapter.quote(column) }} set not null;
        end if;
        {%- endfor %}
        {%- if parts.check_sql %}
        if not exists (select 1 from pg_catalog.pg_constraint
                       where conrelid = '{{ this }}'::regclass and conname = '{{ parts.name }}') then
            alter table {{ this }} add constraint {{ parts.name }} check ({{ parts.check_sql }});
        end if;
        {%- endif %}
        {%- for columns in checks.get('unique') or [] %}
        create unique index if not exists {{ this.identifier[:40] ~ '_uq_' ~ local_md5(columns | join(','))[:8] ~ suffix }}
            on {{ this }} ({{ columns | join(', ') }}) nulls not distinct;
        {%- endfor %}
    end
    $row_constraints$
    {%- endif -%}
{%- endmacro %}
