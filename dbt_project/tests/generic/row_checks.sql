{#-
    All data checks of a model in one test (one query, one dbt node, instead of one node per
    column, rule and grain: a dbt node costs ~0.1 s of bookkeeping, which dominated incremental
    builds). Fails with one row per violation:
      * a row where a column of `not_null` is null, a column (or expression) of `ranges` lies
        outside its [min, max] (inclusive; either bound may be null = open), or a column of
        `accepted` has a non-null value outside its list: ('row', the row as JSON);
      * a combination of the columns of an entry of `unique` (the model's grain, or another key)
        that occurs more than once: ('duplicate (columns)', the values and the count).
    A grain a unique index already enforces (the index makes the insert fail) is not tested again.
    A `where` config (dbt's: the model is read through `select * ... where <where>`) limits the
    checks to some rows; the incremental summary tables use it to check the rows their build
    rewrote (every row after a full recompute).
    Usage:
        data_tests:
          - row_checks:
              arguments:
                not_null: [user_id, week]
                ranges: {mean_value: [0, 1], sample_size: [1, null]}
                accepted: {axis: [energy, valence]}
                unique: [[user_id, week, axis]]
-#}
{% test row_checks(model, not_null=[], ranges={}, accepted={}, unique=[]) %}

select 'row' as failure, row_to_json(checked)::text as detail
from (select * from {{ model }}) as checked
where false
{%- for column in not_null %}
   or {{ column }} is null
{%- endfor %}
{%- for column, bounds in ranges.items() %}
    {%- if bounds[0] is not none %}
   or {{ column }} < {{ bounds[0] }}
    {%- endif %}
    {%- if bounds[1] is not none %}
   or {{ column }} > {{ bounds[1] }}
    {%- endif %}
{%- endfor %}
{%- for column, values in accepted.items() %}
   or {{ column }} not in {{ sql_string_list(values) }}
{%- endfor %}
{%- for columns in unique %}
union all
select
    'duplicate ({{ columns | join(', ') }})' as failure,
    concat_ws(', ', {{ columns | join('::text, ') }}::text) || ': ' || count(*) || ' rows' as detail
from (select * from {{ model }}) as grain
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endfor %}

{% endtest %}
