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
