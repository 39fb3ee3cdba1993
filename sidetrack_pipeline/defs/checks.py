"""Asset checks: the data checks of sidetrack_pipeline.health.checks on the assets that write
those tables. They run after each materialization of their asset and, all together, in the
`health_checks` job every INGEST_LISTENS_INTERVAL_MINUTES (so freshness is judged even when
nothing runs). `sidetrack status` lists the ones whose latest evaluation failed.

Severity: ERROR for broken invariants (duplicates, scores outside 0–1, missing vectors),
WARN for coverage and freshness. The score range check blocks: a failing one stops the run
before dbt aggregates the scores.
"""

import datetime as dt

import dagster as dg

from sidetrack_pipeline.audio.features import ANALYZER_VERSION
from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.health import checks
from sidetrack_pipeline.settings import get_settings


ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def _data_check(name: str, asset, severity: dg.AssetCheckSeverity, run, description: str,
                blocking: bool = False) -> dg.AssetChecksDefinition:
    """An asset check that runs `run(conn)` (a health.checks function) on the database."""
    @dg.asset_check(name=name, asset=asset, description=description, blocking=blocking)
    def _check(database: DatabaseResource) -> dg.AssetCheckResult:
        with database.connect() as conn:
            outcome = run(conn)
        return dg.AssetCheckResult(passed=outcome.passed, severity=severity, description=outcome.summary,
                                   metadata={"summary": outcome.summary, **outcome.metadata})
    return _check


def _fresh(conn) -> checks.CheckOutcome:
    minutes = 2 * get_settings().ingest_listens_interval_minutes + 30
    return checks.listens_fresh(conn, dt.timedelta(minutes=minutes))


no_duplicate_listens = _data_check(
    "no_duplicate_listens", "listens", ERROR, checks.duplicate_listens,
    "No play stored twice: exact duplicates, or a ListenBrainz and a Last.fm copy of one play within "
    "the parity window.")
listens_fresh = _data_check(
    "listens_fresh", "listens", WARN, _fresh,
    "Every user with a listening source had a successful sync within twice "
    "INGEST_LISTENS_INTERVAL_MINUTES (plus 30 minutes' grace).")
analysis_coverage = _data_check(
    "analysis_coverage", "audio_features", WARN, lambda conn: checks.analysis_coverage(conn, ANALYZER_VERSION),
    "Every matched local file is analysed with the current analyser or has its failure on record; "
    "reports the share of listens covered.")
vectors_complete = _data_check(
    "vectors_complete", "track_vectors", ERROR, checks.vectors_complete,
    "Every analysed track has its handcrafted vector of the right dimension.")
mood_scores_in_range = _data_check(
    "mood_scores_in_range", "mood_scores", ERROR,
    lambda conn: checks.scores_in_unit_interval(conn, ("mood_scores",)),
    "Every axis score and confidence is a number within 0–1 (blocks the run: dbt must not average "
    "broken scores).", blocking=True)
mood_scores_complete = _data_check(
    "mood_scores_complete", "mood_scores", ERROR, checks.axis_scores_complete,
    "Every analysed track has all ten audio axes.")
lexicon_scores_in_range = _data_check(
    "lexicon_scores_in_range", "lexicon_scores", ERROR,
    lambda conn: checks.scores_in_unit_interval(conn, ("lexicon_scores",)),
    "Every mood-word score and confidence is a number within 0–1.", blocking=True)
marts_current = _data_check(
    "marts_current", dg.AssetKey(["marts", "mart_overview_week"]), WARN, checks.marts_current,
    "The weekly overview reaches each user's latest listening week (in their time zone).")


ALL_CHECKS = [no_duplicate_listens, listens_fresh, analysis_coverage, vectors_complete, mood_scores_in_range,
              mood_scores_complete, lexicon_scores_in_range, marts_current]

health_checks_job = dg.define_asset_job(
    "health_checks", selection=dg.AssetSelection.checks(*ALL_CHECKS),
    description="Every SideTrack data check, without materialising anything.")
