{#-
    A relationships test for a large table whose column leads an index: fails for every distinct
    value of `column_name` (not null) that `field` of `to` does not hold. The distinct values are
    read by a skip scan (a recursive CTE that jumps from one value to the next through the
    index: one index probe per distinct value) instead of reading every row, so checking that
    a million listens belong to known users costs a few probes per user, not a scan per build.
    Usage (on listen.user_id, which leads listen's unique index):
        data_tests:
          - key_exists_in:
              arguments:
                to: source('sidetrack', 'users')
                field: user_id
-#}
{% test key_exists_in(model, column_name, to, field) %}

with recursive present (value) as (
    (select {{ column_name }} from {{ model }} where {{ column_name }} is not null
     order by {{ column_name }} limit 1)
    union all
    select (select child.{{ column_name }} from {{ model }} as child
            where child.{{ column_name }} > present.value
            order by child.{{ column_name }} limit 1)
    from present
    where present.value is not null
)

select present.value as {{ column_name }}
from present
where present.value is not null
  and not exists (select 1 from {{ to }} as parent where parent.{{ field }} = present.value)

{% endtest %}
