-- The week's vibe in words: per user × local ISO week, the zero-shot lexicon words that set that
-- week's listening apart from the user's usual listening, and a one-line summary for the dashboard.
--
-- Lexicon: lexicon_scores of method var('vibe_summary_lexicon_method', 'zeroshot-musicnn-v1').
-- For user u, week w and word x, over the listens of tracks that have a score for x (a track played
-- three times counts three times; listens of tracks without a score for x are left out):
--   score(u, w, x)     = listen-weighted mean of the tracks' scores for x over the week's listens
--   user_mean(u, x)    = the same mean over all of the user's listens, every week (this week included)
--   lift(u, w, x)      = score(u, w, x) - user_mean(u, x)      (a difference, in score units)
-- Words are ranked per user-week by lift, descending (lifts compared to 1e-12, i.e.
-- round(lift * 1e12); ties by higher score, then the word), and the top var('vibe_summary_top_words', 3) are kept. Ranking by lift rather than by
-- score names what is *distinctive* about the week: a word that is high every week (a generic
-- word, or one the calibration puts high for this user's library) has a lift near 0 and does not
-- crowd out the week's real character. The lift can be negative when few words rose that week;
-- the rank is still the order of distinctiveness.
-- summary_text: the kept words in rank order joined by ', ' (e.g. 'dark, hypnotic, driving').
--
-- Not tagged 'weekly': user_mean depends on every week of the user, so a new listen in any week
-- changes the lifts of all weeks. The per-week sums come from the weekly model int_vibe_user_week
-- (incremental: only changed user-weeks are recomputed); this model only adds them up per user,
-- divides and ranks (a few rows per user-week and word).
{%- set top_words = var('vibe_summary_top_words', 3) | int %}
{%- if top_words < 1 %}
    {{ exceptions.raise_compiler_error("vibe_summary_top_words must be at least 1, got " ~ top_words) }}
{%- endif %}

with users as materialized (
    select user_id, user_name from {{ source('sidetrack', 'users') }}
),

-- user × week × word: the week's listens of tracks scored for the word and their score sum, and
-- the week's listens of tracks with any lexicon score (weekly model, incremental)
weekly as (
    select user_id, week, word, word_listens, value_sum, week_listens
    from {{ ref('int_vibe_user_week') }}
),

-- user × word over all weeks (sums of the weekly sums: the same listens)
overall as (
    select
        user_id,
        word,
        sum(value_sum) / sum(word_listens) as user_mean
    from weekly
    group by user_id, word
),

-- the week's listens of tracks with at least one lexicon score
ranked as (
    select
        weekly.user_id,
        weekly.week,
        weekly.word,
        weekly.word_listens,
        weekly.week_listens,
        scored.score,
        overall.user_mean,
        scored.score - overall.user_mean as lift,
        row_number() over (
            partition by weekly.user_id, weekly.week
            order by round((scored.score - overall.user_mean) * 1e12) desc, scored.score desc, weekly.word
        ) as rank
    from weekly
    inner join overall on overall.user_id = weekly.user_id and overall.word = weekly.word
    cross join lateral (select weekly.value_sum / weekly.word_listens as score) as scored
),

-- materialized: computed once, whatever join order the planner picks below
kept as materialized (
    select * from ranked where rank <= {{ top_words }}
),

summaries as (
    select user_id, week, string_agg(word, ', ' order by rank) as summary_text
    from kept
    group by user_id, week
)

select
    kept.user_id,
    users.user_name,
    kept.week,
    kept.rank::integer as rank,
    kept.word,
    kept.score,
    kept.user_mean,
    kept.lift,
    kept.word_listens::bigint as word_listens,
    kept.week_listens::bigint as week_listens,
    summaries.summary_text
from kept
inner join users on users.user_id = kept.user_id
inner join summaries on summaries.user_id = kept.user_id and summaries.week = kept.week
