"""The `sidetrack` command line."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from sidetrack_pipeline.cli_backfill import backfill
from sidetrack_pipeline.cli_models import embed, models_app
from sidetrack_pipeline.cli_changes import changes
from sidetrack_pipeline.cli_explain import explain
from sidetrack_pipeline.cli_labels import labels_app
from sidetrack_pipeline.cli_mixtape import mixtape
from sidetrack_pipeline.cli_progress import progress
from sidetrack_pipeline.cli_sources import register as register_source_commands
from sidetrack_pipeline.cli_status import status
from sidetrack_pipeline.cli_users import users_app
from sidetrack_pipeline.cli_validate import validate
from sidetrack_pipeline.settings import get_settings

app = typer.Typer(help="SideTrack: taste analytics for your own music listening.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="The database SideTrack uses.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")
app.add_typer(labels_app, name="labels")
app.command("embed")(embed)
app.command("explain")(explain)
app.command("validate")(validate)
app.command("mixtape")(mixtape)
app.command("changes")(changes)
app.command("backfill")(backfill)
app.command("status")(status)

REPO_ROOT = Path(__file__).resolve().parents[1]


@app.command()
def demo() -> None:
    """Build the demo library and listening history, run the whole pipeline, print a summary."""
    from sidetrack_pipeline.demo.run import format_summary, run_demo

    summary = run_demo(echo=typer.echo)
    typer.echo(format_summary(summary))
    if not summary.planted_shift_found:
        raise typer.Exit(1)


@app.command("import-listens")
def import_listens(
    path: Path = typer.Argument(..., exists=True, help="ListenBrainz export zip, or its unpacked folder"),
    user: str = typer.Option(..., "--user", help="SideTrack user name the listens belong to"),
    timezone: Optional[str] = typer.Option(None, help="the user's IANA time zone, e.g. Europe/Berlin"),
) -> None:
    """Import a ListenBrainz export (idempotent; bad lines are reported and kept, never half-written)."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.ingest.listens import import_listenbrainz_export
    from sidetrack_pipeline.sources.listenbrainz_export import ExportError

    url = upgrade()
    try:
        with connect(url) as conn:
            report = import_listenbrainz_export(conn, user, path, timezone=timezone)
    except (ExportError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"read:       {report.read}")
    typer.echo(f"inserted:   {report.inserted}")
    typer.echo(f"duplicates: {report.duplicates} (skipped)")
    withdrawn = f", {report.feedback_withdrawn} withdrawn" if report.feedback_withdrawn else ""
    typer.echo(f"feedback:   {report.loved} loved, {report.hated} hated{withdrawn}, "
               f"{report.unmatched} unmatched")
    typer.echo(f"rejected:   {len(report.rejected)}")
    for r in report.rejected:
        typer.echo(f"  {r.file}:{r.line_no}: {r.reason}")


@app.command()
def analyze(
    files: List[Path] = typer.Argument(..., help="audio files"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per file (JSON lines)"),
    excerpt_seconds: Optional[float] = typer.Option(
        None, "--excerpt-seconds", min=0,
        help="analyse a centred excerpt of this many seconds (default: EXCERPT_SECONDS; 0 = "
             "the whole track, up to MAX_ANALYSIS_SECONDS)"),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=1, help="files analysed in parallel (default: ANALYSIS_WORKERS)"),
) -> None:
    """Analyse audio files in parallel (no database needed); exit status 1 if any file failed.

    Results are printed in the order of the arguments; with --json one object per line with
    every feature, or {"path", "error"} for a file that could not be analysed. A progress bar
    goes to stderr when stderr is a terminal, so stdout stays clean."""
    from sidetrack_pipeline.audio.batch import analyze_many

    settings = get_settings()
    paths = [str(path) for path in files]
    if excerpt_seconds is None:
        excerpt_seconds = settings.excerpt_seconds
    failed = 0
    with progress("analysing", len(paths)) as advance:
        results = analyze_many(paths, workers=min(workers or settings.analysis_workers, len(paths)),
                               excerpt_seconds=excerpt_seconds, on_result=lambda _result: advance(), ordered=True)
        for result in results:
            failed += result.error is not None
            typer.echo(_format_analysis(result, as_json))
    if failed:
        raise typer.Exit(1)


def _format_analysis(result, as_json: bool) -> str:
    """One output line for an AnalysisResult: a JSON object, or a short human summary."""
    if as_json:
        body = {"path": result.path, "error": result.error} if result.error else {
            "path": result.path, **result.features}
        return json.dumps(_json_safe(body), sort_keys=True, allow_nan=False)
    if result.error:
        return f"{result.path}: ERROR {result.error}"
    f = result.features

    def show(key: str, fmt: str) -> str:
        return "?" if f.get(key) is None else format(f[key], fmt)

    return (f"{result.path}: {show('bpm', '.1f')} BPM, {f.get('key') or '?'} {f.get('mode') or ''}"
            f", {show('loudness_lufs', '.1f')} LUFS, pumpiness {show('pumpiness', '.2f')}")


def _json_safe(value):
    """NaN/infinity become null: they are not JSON (features should never hold them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


@app.command()
def materialize() -> None:
    """Run every asset through Dagster: `full_pipeline`, then `weekly_aggregates` over every week
    with listens (one run), then the marts that follow the weekly assets."""
    from sidetrack_pipeline.pipeline import materialize_all

    result = materialize_all(raise_on_error=False)
    for note in result.notes:
        typer.echo(note)
    raise typer.Exit(0 if result.success else 1)


@app.command()
def dashboard(port: int = typer.Option(8501, help="port to serve on")) -> None:
    """Start the Streamlit dashboard."""
    from sidetrack_pipeline.db import upgrade

    upgrade()
    os.chdir(REPO_ROOT)  # Streamlit reads .streamlit/ (themes, secrets.toml for sign-in) from the working directory
    os.execvp(sys.executable, [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
                               "--server.port", str(port), "--server.headless", "true",
                               "--browser.gatherUsageStats", "false"])


@app.command()
def ui(port: int = typer.Option(3000, help="port to serve on")) -> None:
    """Start the Dagster UI (`dagster dev`) on the SideTrack code location."""
    from sidetrack_pipeline.pipeline import dagster_home

    dagster_home()
    dagster = Path(sys.executable).with_name("dagster")
    os.execvp(str(dagster), [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-p", str(port)])


@db_app.command("url")
def db_url() -> None:
    """Print the database URL in use (starting the embedded server if needed)."""
    from sidetrack_pipeline.db import database_url

    typer.echo(database_url())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations."""
    from sidetrack_pipeline.db import upgrade

    typer.echo(f"schema up to date: {upgrade()}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server."""
    from sidetrack_pipeline.db import embedded

    settings = get_settings()
    if settings.database_url:
        typer.echo("SIDETRACK_DATABASE_URL is set: SideTrack does not manage that server.")
        return
    typer.echo("stopped" if embedded.stop(settings.pgdata) else "not running")


register_source_commands(app)  # sync, import-lastfm, resolve, scan, import-beets

if __name__ == "__main__":
    app()
