-- One row per listen × axis for the listens whose track has a (preferred) mood score.
-- Listens of tracks without scores drop out here.
with listens as (
    select * from {{ ref('int_listens_local') }}
),

scores as (
    select * from {{ ref('int_track_axis_scores') }}
)

select
    listens.listen_id,
    listens.user_id,
    listens.track_id,
    listens.artist_id,
    listens.played_at,
    listens.played_at_local,
    listens.week,
    scores.axis,
    scores.value,
    scores.method,
    scores.confidence
from listens
inner join scores on scores.track_id = listens.track_id
