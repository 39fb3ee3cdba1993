"""The `sidetrack` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer

from sidetrack_pipeline.settings import get_settings

app = typer.Typer(help="SideTrack: taste analytics for your own music listening.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="The database SideTrack uses.", no_args_is_help=True)
app.add_typer(db_app, name="db")

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
    typer.echo(f"rejected:   {len(report.rejected)}")
    for r in report.rejected:
        typer.echo(f"  {r.file}:{r.line_no}: {r.reason}")


@app.command()
def analyze(
    files: List[Path] = typer.Argument(..., help="audio files"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per file (JSON lines)"),
    excerpt_seconds: float = typer.Option(0.0, help="analyse a centred excerpt of this many seconds"),
) -> None:
    """Analyse audio files (no database needed)."""
    from sidetrack_pipeline.audio.features import analyze_file

    failed = 0
    for path in files:
        try:
            result = {"path": str(path), **analyze_file(path, excerpt_seconds=excerpt_seconds)}
        except Exception as exc:  # one bad file must not stop the others
            failed += 1
            result = {"path": str(path), "error": f"{type(exc).__name__}: {exc}"}
        if as_json:
            typer.echo(json.dumps(result, sort_keys=True))
        elif "error" in result:
            typer.echo(f"{path}: ERROR {result['error']}")
        else:
            typer.echo(f"{path}: {result['bpm']:.1f} BPM, {result['key']} {result['mode']}, "
                       f"{result['loudness_lufs']:.1f} LUFS, pumpiness {result['pumpiness']:.2f}")
    if failed:
        raise typer.Exit(1)


@app.command()
def materialize() -> None:
    """Run every asset (the `full_pipeline` job) through Dagster."""
    from sidetrack_pipeline.pipeline import materialize_all

    result = materialize_all(raise_on_error=False)
    raise typer.Exit(0 if result.success else 1)


@app.command()
def dashboard(port: int = typer.Option(8501, help="port to serve on")) -> None:
    """Start the Streamlit dashboard."""
    from sidetrack_pipeline.db import upgrade

    upgrade()
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


if __name__ == "__main__":
    app()
