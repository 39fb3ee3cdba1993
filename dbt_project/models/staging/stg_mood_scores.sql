-- One row per track × axis × scoring method, with the method's rank in var('axis_method_preference').
select
    track_id,
    axis,
    method,
    value,
    confidence,
    {{ method_rank('method') }} as method_rank,
    computed_at
from {{ source('sidetrack', 'mood_scores') }}
