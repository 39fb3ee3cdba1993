"""`sidetrack validate`: check the vibe axes against synthesized ground truth and write
docs/validation.md (registered in cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def validate(
    cache: Optional[Path] = typer.Option(
        None, "--cache", help="Folder for rendered audio and analysed features "
        "(default: $SIDETRACK_HOME/validation; never committed)."),
    out: Path = typer.Option(Path("docs/validation.md"), "--out", help="Markdown report to write."),
    quick: bool = typer.Option(False, "--quick", help="A few short tracks, one base (a smoke test)."),
) -> None:
    """Render the validation set, analyse and score it, and write the report."""
    from sidetrack_pipeline.validation import report, run

    result = run.run(cache=cache, quick=quick, progress=lambda msg: typer.echo(msg, err=True))
    path = report.write(result, out)
    for row in result.axis_rows:
        typer.echo(f"{row.axis:16s} rho={row.rho:+.3f} {'met' if row.met else 'MISSED'}")
    typer.echo(f"valence          {result.valence_wins}/{result.valence_pairs} pairs major > minor")
    typer.echo(f"wrote {path}")
