{#-
    Fails for every combination of `columns` that occurs more than once (the grain of a model).
    Usage:
        data_tests:
          - unique_combination:
              arguments:
                columns: [user_id, week, axis]
-#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
