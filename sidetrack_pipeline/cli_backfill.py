"""`sidetrack backfill --from 2026-W01 --to 2026-W12`: the weekly aggregates and analytics of a range
of weeks in one Dagster run, then the full-history marts; recorded in the local Dagster instance."""

from __future__ import annotations

import typer

COVERAGE = (("taste_trajectory_week", "week"), ("cluster_week", "week"), ("listening_outlier", "week"),
            ("mixtape", "week"))


def backfill(
    start: str = typer.Option(..., "--from", help="first week: ISO week 2026-W01 (or a date in it)"),
    end: str = typer.Option(..., "--to", help="last week, included: ISO week 2026-W12 (or a date in it)"),
    marts: bool = typer.Option(True, "--marts/--no-marts",
                               help="rebuild the full-history marts afterwards (the `aggregate_marts` job)"),
) -> None:
    """Materialise the weekly partitions of the `weekly_aggregates` job (weekly dbt models, taste
    positions, dominant clusters, outliers, mixtapes) for the weeks --from .. --to as one run (one
    dbt invocation), then the unpartitioned marts. The runs show up in `sidetrack ui`."""
    from sidetrack_pipeline.db.connection import connect, database_url
    from sidetrack_pipeline.defs.partitions import monday_of
    from sidetrack_pipeline.pipeline import backfill_weeks

    try:
        first, last = monday_of(start), monday_of(end)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if first > last:
        typer.echo(f"error: --from {start} is after --to {end}", err=True)
        raise typer.Exit(2)
    result = backfill_weeks(first, last, raise_on_error=False, marts=marts)
    for note in result.notes:
        typer.echo(note)
    for run in result.results:
        typer.echo(f"run {run.run_id} ({run.job_def.name}): {'success' if run.success else 'FAILED'}")
    if not result.results or not result.success:
        raise typer.Exit(1)
    weeks = (result.weeks[1] - result.weeks[0]).days // 7 + 1
    typer.echo(f"weeks {result.weeks[0]} .. {result.weeks[1]} ({weeks} partitions)")
    with connect(database_url()) as conn, conn.cursor() as cur:
        for table, column in COVERAGE:
            cur.execute(f"select count(*), count(distinct {column}) from {table} "
                        f"where {column} >= %s and {column} <= %s", result.weeks)
            rows, covered = cur.fetchone()
            typer.echo(f"  {table:<24}{rows:>8} rows, {covered} weeks")
