-- Label and artist influence: which labels and which artists pulled each user-week's mood away
-- from the user's baseline, per axis.
--
-- For user u, week w, axis a (listens of tracks with a score on a; N = their number):
--   week_mean      = listen-weighted mean score of the week's N listens (= mart_mood_week.mean_value)
--   baseline_mean  = mean of the weekly means of the same user × axis over the observed weeks whose
--                    Monday lies 1..26 weeks before w, the week itself excluded (exactly
--                    mart_radar.baseline_mean). Chosen over the all-time mean because it is causal
--                    (a week is never explained against its future), it does not rewrite every past
--                    row when new listens arrive, and the dashboard's radar shows the same
--                    deviation. Weeks without a baseline (no observed week in that window) have
--                    no rows.
--   deviation      = week_mean - baseline_mean
--   contribution_c = sum over the week's listens of c of weight(listen, c) * (value - baseline_mean) / N
-- Contributors, `kind`:
--   'artist': the track's main artist, weight 1.
--   'label' : the labels of the track's release (release_label, distinct labels; a label listed
--             with several catalogue numbers counts once), weight 1 / (number of labels), so a
--             listen is split equally between its labels; a track without a release or whose
--             release has no label counts for '(no label)' (contributor_id null) with weight 1.
-- Since every listen's weights sum to 1 within a kind, the contributions of all contributors of a
-- kind sum to deviation exactly: contribution_c = share_c * (contributor_mean_c - baseline_mean),
-- with share_c = weighted_listens_c / N. So a contributor pulls the week by being played a lot
-- (share) *and* sounding unlike the user's baseline.
-- Kept rows: the top var('label_influence_top_k', 5) contributors per user × week × axis × kind by
-- |contribution| descending (ties to 1e-12 by contributor_name, then contributor_id), with `rank`;
-- `contributors` counts all of them and `others_contribution` sums the contributions of those cut,
-- so the kept contributions plus others_contribution equal deviation.
-- Not tagged 'weekly': the baseline depends on the 26 weeks before.
{%- set top_k = var('label_influence_top_k', 5) | int %}

with listen_counts as (
    select user_id, week, track_id, artist_id, count(*) as listens
    from {{ ref('int_listens_local') }}
    group by user_id, week, track_id, artist_id
),

users as (
    select user_id, user_name from {{ ref('stg_users') }}
),

scores as (
    select track_id, axis, value from {{ ref('int_track_axis_scores') }}
),

tracks as (
    select track_id, release_id from {{ ref('stg_tracks') }}
),

artists as (
    select artist_id, name from {{ source('sidetrack', 'artist') }}
),

labels as (
    select label_id, name from {{ source('sidetrack_musicbrainz', 'label') }}
),

release_labels as (
    select distinct release_id, label_id from {{ source('sidetrack_musicbrainz', 'release_label') }}
),

-- every track's labels with the share of a listen each gets; one ('(no label)', 1) row otherwise
track_labels as (
    select
        tracks.track_id,
        release_labels.label_id,
        1.0 / count(*) over (partition by tracks.track_id)::double precision as weight
    from tracks
    left join release_labels on release_labels.release_id = tracks.release_id
),

listen_axis as (
    select
        listen_counts.user_id,
        listen_counts.week,
        listen_counts.track_id,
        listen_counts.artist_id,
        listen_counts.listens,
        scores.axis,
        scores.value
    from listen_counts
    inner join scores on scores.track_id = listen_counts.track_id
),

weekly as (
    select
        user_id,
        week,
        axis,
        sum(listens) as week_listens,
        sum(listens * value) / sum(listens)::double precision as week_mean
    from listen_axis
    group by user_id, week, axis
),

baselined as (
    select
        weekly.*,
        count(*) over baseline_window as baseline_weeks,
        avg(week_mean) over baseline_window as baseline_mean
    from weekly
    window baseline_window as (
        partition by user_id, axis order by week
        range between interval '182 days' preceding and interval '7 days' preceding
    )
),

weeks as (
    select * from baselined where baseline_weeks >= 1
),

-- one row per (listened track, contributor) with the contributor's weight for that track
attributed as (
    select
        'artist' as kind,
        listen_axis.*,
        listen_axis.artist_id as contributor_id,
        1.0::double precision as weight
    from listen_axis

    union all

    select
        'label' as kind,
        listen_axis.*,
        track_labels.label_id as contributor_id,
        track_labels.weight
    from listen_axis
    inner join track_labels on track_labels.track_id = listen_axis.track_id
),

contributions as (
    select
        weeks.user_id,
        weeks.week,
        weeks.axis,
        attributed.kind,
        attributed.contributor_id,
        sum(attributed.listens * attributed.weight) as weighted_listens,
        sum(attributed.listens * attributed.weight * attributed.value)
            / sum(attributed.listens * attributed.weight) as contributor_mean,
        sum(attributed.listens * attributed.weight * (attributed.value - weeks.baseline_mean))
            / weeks.week_listens::double precision as contribution
    from attributed
    inner join weeks
        on weeks.user_id = attributed.user_id
        and weeks.week = attributed.week
        and weeks.axis = attributed.axis
    group by
        weeks.user_id, weeks.week, weeks.axis, attributed.kind, attributed.contributor_id,
        weeks.baseline_mean, weeks.week_listens
),

named as (
    select
        contributions.*,
        case
            when contributions.kind = 'artist' then artists.name
            else coalesce(labels.name, '(no label)')
        end as contributor_name
    from contributions
    left join artists
        on contributions.kind = 'artist' and artists.artist_id = contributions.contributor_id
    left join labels
        on contributions.kind = 'label' and labels.label_id = contributions.contributor_id
),

ranked as (
    select
        named.*,
        row_number() over (
            partition by user_id, week, axis, kind
            order by round(abs(contribution)::numeric, 12) desc, contributor_name, contributor_id
        ) as rank,
        count(*) over (partition by user_id, week, axis, kind) as contributors
    from named
),

cut as (
    select
        ranked.*,
        coalesce(sum(contribution) filter (where rank > {{ top_k }})
            over (partition by user_id, week, axis, kind), 0) as others_contribution
    from ranked
)

select
    cut.user_id,
    users.user_name,
    cut.week,
    cut.axis,
    cut.kind,
    cut.rank::integer as rank,
    cut.contributor_id,
    cut.contributor_name,
    cut.weighted_listens,
    cut.weighted_listens / weeks.week_listens::double precision as share,
    cut.contributor_mean,
    cut.contribution,
    weeks.week_listens::bigint as week_listens,
    weeks.week_mean,
    weeks.baseline_weeks::integer as baseline_weeks,
    weeks.baseline_mean,
    weeks.week_mean - weeks.baseline_mean as deviation,
    cut.contributors::integer as contributors,
    cut.others_contribution
from cut
inner join weeks
    on weeks.user_id = cut.user_id
    and weeks.week = cut.week
    and weeks.axis = cut.axis
inner join users on users.user_id = cut.user_id
where cut.rank <= {{ top_k }}
