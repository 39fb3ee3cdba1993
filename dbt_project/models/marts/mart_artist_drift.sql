-- Per-artist drift: per user × artist × axis, how the mood of what the user plays *by that artist*
-- moved over time.
--
-- Listens: the user's listens of the artist's tracks (the track's main artist) that have a score on
-- the axis (int_track_axis_scores, one method per track × axis). Unit of observation: an observed
-- week, i.e. a local ISO week with at least one such listen.
--   week_mean_i     = listen-weighted mean score of week i's listens (each listen counts once)
--   t_i             = (week_i - first_week) / 7, whole weeks since the first observed week
--   slope_per_week  = ordinary least-squares slope of week_mean_i on t_i over the observed weeks
--                     (each week weighs the same: repeated plays of one track in a week are not
--                     independent evidence, so listen weights would overstate busy weeks; gaps
--                     are not filled, t keeps the real calendar spacing)
--   slope_se        = its classical standard error, sqrt(SSE / (n - 2) / Sxx) with SSE the residual
--                     sum of squares, Sxx = sum (t_i - mean t)^2; null with fewer than 3 observed
--                     weeks. It assumes independent, equal-variance weekly residuals (weeks of few
--                     listens are noisier), so read slope / slope_se as indicative, not as a test.
--   fitted_change   = slope_per_week * span_weeks, the trend's total change over the observed
--                     span, in score units (comparable between artists heard over short and long
--                     spans, unlike the slope per week)
--   first_period_mean / latest_period_mean = listen-weighted mean over the listens of the first
--                     floor(n / 2) and of the last floor(n / 2) observed weeks (for odd n the middle
--                     week is in neither); period_change = latest - first (model-free check of the
--                     slope's direction)
--   drift_rank      = rank of the artist within user × axis by |fitted_change| descending
--                     (compared to 1e-12, i.e. round(|fitted_change| * 1e12); ties by artist_id):
--                     1 = the artist whose listening moved most
-- Only artists with at least var('artist_drift_min_weeks', 4) observed weeks (of that user and
-- axis) are kept, so a slope is never fitted through two or three noisy weekly means.
-- The slope is computed on the absolute week number (weeks since 2000-01-03); a least-squares
-- slope does not change when t is shifted, so this is the slope on t above.
--
-- A view over int_artist_drift (the fits, one row per user × artist × axis, incremental: only the
-- pairs whose weeks changed are recomputed) that joins the names and computes drift_rank at read
-- time: a new day moves the fitted change of the artists heard that day, which shifts the rank of
-- most of the user's other artists; stored, those ranks were rewritten on every build (~90,000
-- rows at a million listens). A query for one user computes that user's ranks only (the filter on
-- user_id reaches below the window, which is partitioned by user).
{{ config(materialized='view') }}

select
    fits.user_id,
    users.user_name,
    fits.artist_id,
    artist.name as artist_name,
    fits.axis,
    fits.weeks_observed,
    fits.listens,
    fits.first_week,
    fits.last_week,
    fits.span_weeks,
    fits.mean_value,
    fits.first_period_mean,
    fits.latest_period_mean,
    fits.period_change,
    fits.slope_per_week,
    fits.slope_se,
    fits.fitted_change,
    row_number() over (
        partition by fits.user_id, fits.axis
        order by round(abs(fits.fitted_change) * 1e12) desc, fits.artist_id
    )::integer as drift_rank
from {{ ref('int_artist_drift') }} as fits
inner join {{ source('sidetrack', 'users') }} as users on users.user_id = fits.user_id
inner join {{ source('sidetrack', 'artist') }} as artist on artist.artist_id = fits.artist_id
