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


def _result(outcome: checks.CheckOutcome, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    metadata = {"summary": outcome.summary, **outcome.metadata}
    return dg.AssetCheckResult(passed=outcome.passed, severity=severity, metadata=metadata,
                               description=outcome.summary)


@dg.asset_check(asset="listens", description="No play stored twice: exact duplicates, or a "
                "ListenBrainz and a Last.fm copy of one play within the parity window.")
def no_duplicate_listens(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.duplicate_listens(conn), dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset="listens", description="Every user with a listening source had a successful "
                "sync within twice INGEST_LISTENS_INTERVAL_MINUTES (plus 30 minutes' grace).")
def listens_fresh(database: DatabaseResource) -> dg.AssetCheckResult:
    minutes = 2 * get_settings().ingest_listens_interval_minutes + 30
    with database.connect() as conn:
        return _result(checks.listens_fresh(conn, dt.timedelta(minutes=minutes)), dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="audio_features", description="Every matched local file is analysed with the "
                "current analyser or has its failure on record; reports the share of listens covered.")
def analysis_coverage(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.analysis_coverage(conn, ANALYZER_VERSION), dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="track_vectors", description="Every analysed track has its handcrafted vector "
                "of the right dimension.")
def vectors_complete(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.vectors_complete(conn), dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset="mood_scores", blocking=True, description="Every axis score and confidence "
                "is a number within 0–1 (blocks the run: dbt must not average broken scores).")
def mood_scores_in_range(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.scores_in_unit_interval(conn, ("mood_scores",)), dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset="mood_scores", description="Every analysed track has all ten audio axes.")
def mood_scores_complete(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.axis_scores_complete(conn), dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset="lexicon_scores", blocking=True, description="Every mood-word score and "
                "confidence is a number within 0–1.")
def lexicon_scores_in_range(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.scores_in_unit_interval(conn, ("lexicon_scores",)), dg.AssetCheckSeverity.ERROR)


@dg.asset_check(asset=dg.AssetKey(["marts", "mart_overview_week"]), description="The weekly "
                "overview reaches each user's latest listening week (in their time zone).")
def marts_current(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.connect() as conn:
        return _result(checks.marts_current(conn), dg.AssetCheckSeverity.WARN)


ALL_CHECKS = [no_duplicate_listens, listens_fresh, analysis_coverage, vectors_complete, mood_scores_in_range,
              mood_scores_complete, lexicon_scores_in_range, marts_current]

health_checks_job = dg.define_asset_job(
    "health_checks", selection=dg.AssetSelection.checks(*ALL_CHECKS),
    description="Every SideTrack data check, without materialising anything.")
