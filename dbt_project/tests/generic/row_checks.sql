{#-
    The per-row rules of a model in one test (one query, one dbt node, instead of one node per
    column and rule: a dbt node costs ~0.1 s of bookkeeping, which dominated incremental builds).
    Fails for every row where a column of `not_null` is null, a column of `ranges` lies outside
    its [min, max] (inclusive; either bound may be null = open), or a column of `accepted` has a
    non-null value outside its list. Usage:
        data_tests:
          - row_checks:
              arguments:
                not_null: [user_id, week]
                ranges: {mean_value: [0, 1], sample_size: [1, null]}
                accepted: {axis: [energy, valence]}
-#}
{% test row_checks(model, not_null=[], ranges={}, accepted={}) %}

select *
from {{ model }}
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

{% endtest %}
