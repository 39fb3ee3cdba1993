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
-- |contribution| descending (|contribution| compared to 1e-12, i.e. round(|c| * 1e12); ties, e.g.
-- two labels of one release heard only through it, by contributor_id, '(no label)' last), with
-- `rank`; `contributors` counts all of them and `others_contribution` sums the contributions of
-- those cut (all contributions minus the kept ones), so kept + others_contribution = deviation.
--
-- Speed: the weighted listens and score sums per user × week × contributor, all axes side by
-- side, come from the weekly incremental models int_artist_user_week and int_label_user_week
-- (only changed user-weeks are recomputed), N and the week's mean from int_mood_user_week; they
-- are unpivoted to axes only for the contributors that can still reach the top k (at or above an
-- exact lower bound of the k-th largest |contribution|, see `part_maxima`), and contribution_c is
-- computed from the sums as (sum w*n*value - baseline_mean * sum w*n) / N. `contributors` and the
-- sum of all contributions come from the same pass as the bounds (per part, then added up).
-- Not tagged 'weekly': the baseline depends on the 26 weeks before.
--
-- Incremental (strategy 'summary_delta', macros/summary_incremental.sql; README "Incremental
-- summary marts"): the rows of week w depend on the user's weeks w - 26 weeks .. w (the baseline
-- window and the week itself), so a user-week c rebuilt by a weekly run since this mart's last
-- build (the rebuild log after the mart's mark, tombstones included) invalidates the user's weeks
-- c .. c + 182 days. Those rows are deleted and recomputed, from the user's int_mood_user_week
-- rows of c - 182 .. c + 182 days (every baseline window of the recomputed weeks) and the
-- contributor sums of the recomputed weeks only. Everything is recomputed on a first build,
-- --full-refresh, without a mark, after a full rebuild of the weekly tables, or when the artist or
-- label names or the vars (axes, label_influence_top_k) changed.
-- depends_on: {{ ref('int_user_week_changes') }}
{%- set top_k = var('label_influence_top_k', 5) | int %}
{%- set axes = var('axes') %}
{%- set fingerprint = 'label_influence:' ~ top_k ~ ':' ~ (axes | join(',')) %}
{{ config(materialized='incremental', incremental_strategy='summary_delta',
          summary_fingerprint=fingerprint,
          post_hook="{{ summary_mark_store(config.get('summary_fingerprint', '')) }}",
          indexes=[{'columns': ['user_id', 'week']}]) }}
{%- set scope = summary_scope(fingerprint) %}
{%- if top_k < 1 %}
    {{ exceptions.raise_compiler_error("label_influence_top_k must be at least 1, got " ~ top_k) }}
{%- endif %}

with users as (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
),

artists as (
    select artist_id, name from {{ source('sidetrack', 'artist') }}
),

labels as (
    select label_id, name from {{ source('sidetrack_musicbrainz', 'label') }}
),

axis_names as (
    select *
    from (
        values
        {%- for axis in axes %}
            ({{ loop.index }}, '{{ axis }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as axis_names (axis_index, axis)
),

-- user × week × axis (axis_index = position in var('axes')): N (the week's listens scored on the
-- axis) and the week's listen-weighted mean, from the weekly model int_mood_user_week
weekly as (
    select
        mood.user_id,
        mood.week,
        axis_names.axis_index,
        mood.sample_size::double precision as week_listens,
        mood.mean_value as week_mean
    from {{ ref('int_mood_user_week') }} as mood
    inner join axis_names on axis_names.axis = mood.axis
    {%- if scope.partial %}
    -- partial: the baseline windows of the weeks recomputed (see the header)
    where exists (
        select 1 from {{ summary_changed_weeks(scope.lo) }} as changed
        where changed.user_id = mood.user_id
          and mood.week between changed.week - 182 and changed.week + 182
    )
    {%- endif %}
),

baselined as (
    select
        weekly.*,
        count(*) over baseline_window as baseline_weeks,
        avg(week_mean) over baseline_window as baseline_mean
    from weekly
    window baseline_window as (
        partition by user_id, axis_index order by week
        range between interval '182 days' preceding and interval '7 days' preceding
    )
),

weeks as (
    select * from baselined
    where baseline_weeks >= 1
    {%- if scope.partial %}
      -- partial: only the weeks c .. c + 182 days of the changed user-weeks c
      and exists (
        select 1 from {{ summary_changed_weeks(scope.lo) }} as changed
        where changed.user_id = baselined.user_id
          and baselined.week between changed.week and changed.week + 182
      )
    {%- endif %}
),

-- the same, all axes side by side (one row per user-week), for the contributors' join
weeks_wide as (
    select
        user_id,
        week
        {%- for axis in axes %},
        max(week_listens) filter (where axis_index = {{ loop.index }}) as wn{{ loop.index }},
        max(baseline_mean) filter (where axis_index = {{ loop.index }}) as b{{ loop.index }}
        {%- endfor %}
    from weeks
    group by user_id, week
),

-- per user × week × contributor, all axes side by side: weighted listens and weighted score sums
-- (kind_code 1 = artist, 2 = label)
contributor_sums as (
    select
        1 as kind_code,
        user_id,
        week,
        artist_id as contributor_id
        {%- for axis in axes %},
        n_{{ axis }} as n{{ loop.index }},
        s_{{ axis }} as s{{ loop.index }}
        {%- endfor %}
    from {{ ref('int_artist_user_week') }}
    {%- if scope.partial %}
    where (user_id, week) in (select user_id, week from weeks_wide)
    {%- endif %}

    union all

    select
        2 as kind_code,
        user_id,
        week,
        label_id as contributor_id
        {%- for axis in axes %},
        n_{{ axis }} as n{{ loop.index }},
        s_{{ axis }} as s{{ loop.index }}
        {%- endfor %}
    from {{ ref('int_label_user_week') }}
    {%- if scope.partial %}
    where (user_id, week) in (select user_id, week from weeks_wide)
    {%- endif %}
),

-- per contributor-week, all axes side by side: c<i> = contribution on axis i (null when the
-- contributor has no listen scored on the axis, or the week has no baseline for it), with its
-- ranking key r<i> = round(|c<i>| * 1e12)
contributor_weeks as (
    select
        contributor_sums.kind_code,
        contributor_sums.user_id,
        contributor_sums.week,
        contributor_sums.contributor_id
        {%- for axis in axes %},
        contributor_sums.n{{ loop.index }},
        contributor_sums.s{{ loop.index }},
        per_axis{{ loop.index }}.c as c{{ loop.index }},
        round(abs(per_axis{{ loop.index }}.c) * 1e12) as r{{ loop.index }}
        {%- endfor %}
    from contributor_sums
    inner join weeks_wide
        on weeks_wide.user_id = contributor_sums.user_id
        and weeks_wide.week = contributor_sums.week
    {%- for axis in axes %}
    cross join lateral (
        select
            case when contributor_sums.n{{ loop.index }} > 0 then
                (contributor_sums.s{{ loop.index }} - weeks_wide.b{{ loop.index }} * contributor_sums.n{{ loop.index }})
                / weeks_wide.wn{{ loop.index }}
            end as c
    ) as per_axis{{ loop.index }}
    {%- endfor %}
),

-- Pruning before the ranking (exact): per user × week × kind, split the contributors into top_k
-- parts by contributor_id mod top_k and take each part's largest key r<i>. When all top_k parts
-- have one, the smallest of these maxima is reached by top_k different contributors, so it is a
-- lower bound of the top_k-th largest key on axis i and no contributor below it can be in the
-- top k; otherwise the bound is -1 (no pruning). Only the contributors at or above the bound
-- (typically a few times top_k) are ranked, instead of every contributor on every axis.
part_maxima as (
    select
        user_id,
        week,
        kind_code,
        mod(coalesce(contributor_id, 0), {{ top_k }}) as part
        {%- for axis in axes %},
        max(r{{ loop.index }}) as m{{ loop.index }},
        count(c{{ loop.index }}) as k{{ loop.index }},
        sum(c{{ loop.index }}) as t{{ loop.index }}
        {%- endfor %}
    from contributor_weeks
    group by user_id, week, kind_code, mod(coalesce(contributor_id, 0), {{ top_k }})
),

-- per user × week × kind: the bounds, and over every contributor (before the cut) per axis how
-- many there are and the sum of their contributions (from the parts' counts and sums: one pass
-- over the contributors for both)
bounds as materialized (
    select
        user_id,
        week,
        kind_code
        {%- for axis in axes %},
        case when count(m{{ loop.index }}) >= {{ top_k }} then min(m{{ loop.index }}) else -1 end
            as bound{{ loop.index }},
        sum(k{{ loop.index }}) as k{{ loop.index }},
        sum(t{{ loop.index }}) as t{{ loop.index }}
        {%- endfor %}
    from part_maxima
    group by user_id, week, kind_code
),

totals as (
    select
        bounds.user_id,
        bounds.week,
        bounds.kind_code,
        per_axis.axis_index,
        per_axis.contributors,
        per_axis.all_contributions
    from bounds
    cross join lateral (
        values
        {%- for axis in axes %}
            ({{ loop.index }}, k{{ loop.index }}, t{{ loop.index }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as per_axis (axis_index, contributors, all_contributions)
    where per_axis.contributors > 0
),

candidates as (
    select
        contributor_weeks.user_id,
        contributor_weeks.week,
        per_axis.axis_index,
        contributor_weeks.kind_code,
        contributor_weeks.contributor_id,
        per_axis.weighted_listens,
        per_axis.value_sum,
        per_axis.contribution,
        per_axis.rank_key
    from contributor_weeks
    inner join bounds
        on bounds.user_id = contributor_weeks.user_id
        and bounds.week = contributor_weeks.week
        and bounds.kind_code = contributor_weeks.kind_code
        -- (at or above the bound on some axis: the rest are not unpivoted at all)
        and (
        {%- for axis in axes %}
            contributor_weeks.r{{ loop.index }} >= bounds.bound{{ loop.index }}{{ " or" if not loop.last }}
        {%- endfor %}
        )
    cross join lateral (
        values
        {%- for axis in axes %}
            ({{ loop.index }}, contributor_weeks.n{{ loop.index }}, contributor_weeks.s{{ loop.index }},
             contributor_weeks.c{{ loop.index }}, contributor_weeks.r{{ loop.index }}, bounds.bound{{ loop.index }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as per_axis (axis_index, weighted_listens, value_sum, contribution, rank_key, bound)
    where per_axis.contribution is not null
      and per_axis.rank_key >= per_axis.bound
),

ranked as (
    select
        candidates.*,
        row_number() over (
            partition by user_id, week, axis_index, kind_code
            order by rank_key desc, contributor_id
        ) as rank
    from candidates
),

-- materialized: computed once, whatever join order the planner picks for the joins below
kept as materialized (
    select
        ranked.*,
        totals.contributors,
        case
            when totals.contributors <= {{ top_k }} then 0
            else totals.all_contributions
                - sum(ranked.contribution) over (
                    partition by ranked.user_id, ranked.week, ranked.axis_index, ranked.kind_code
                )
        end as others_contribution
    from ranked
    inner join totals
        on totals.user_id = ranked.user_id
        and totals.week = ranked.week
        and totals.kind_code = ranked.kind_code
        and totals.axis_index = ranked.axis_index
    where ranked.rank <= {{ top_k }}
)

select
    kept.user_id,
    users.user_name,
    kept.week,
    axis_names.axis,
    case kept.kind_code when 1 then 'artist' else 'label' end as kind,
    kept.rank::integer as rank,
    kept.contributor_id,
    -- (names looked up per row through the primary keys: joins picked nested loops over every
    -- artist when the planner's estimate of `kept` was one row)
    case
        when kept.kind_code = 1 then (select artists.name from artists where artists.artist_id = kept.contributor_id)
        else coalesce((select labels.name from labels where labels.label_id = kept.contributor_id), '(no label)')
    end as contributor_name,
    kept.weighted_listens,
    kept.weighted_listens / weeks.week_listens as share,
    kept.value_sum / kept.weighted_listens as contributor_mean,
    kept.contribution,
    weeks.week_listens::bigint as week_listens,
    weeks.week_mean,
    weeks.baseline_weeks::integer as baseline_weeks,
    weeks.baseline_mean,
    weeks.week_mean - weeks.baseline_mean as deviation,
    kept.contributors::integer as contributors,
    kept.others_contribution
from kept
inner join weeks
    on weeks.user_id = kept.user_id
    and weeks.week = kept.week
    and weeks.axis_index = kept.axis_index
inner join axis_names on axis_names.axis_index = kept.axis_index
inner join users on users.user_id = kept.user_id
