-- One row per track × axis: the score of the most preferred available method
-- (order of var('axis_method_preference'); methods not in that list are ignored),
-- for the axes of var('axes').
with ranked as (
    select * from {{ ref('stg_mood_scores') }}
    where method_rank is not null
      and axis in {{ sql_string_list(var('axes')) }}
)

select distinct on (track_id, axis)
    track_id,
    axis,
    value,
    method,
    confidence,
    method_rank,
    count(*) over (partition by track_id, axis) as available_methods
from ranked
order by track_id, axis, method_rank
