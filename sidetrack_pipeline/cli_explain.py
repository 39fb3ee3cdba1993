"""`sidetrack explain TRACK`: why a track scores what it scores on each vibe axis."""

from __future__ import annotations

from typing import Optional

import typer


def explain(
    track: str = typer.Argument(..., help='a track id, or "artist - title" (case-insensitive search)'),
    axis: Optional[str] = typer.Option(None, "--axis", "-a", help="only this axis"),
    json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Per axis: the final score, its confidence and provenance, and the features, tags, words,
    methods, neighbours and prior that moved it (signed pulls from the neutral 0.5)."""
    import dataclasses
    import json as json_module

    from sidetrack_pipeline.db.connection import connect
    from sidetrack_pipeline.scoring.axes import AXES
    from sidetrack_pipeline.scoring.explain import explain_track, format_explanation

    if axis is not None and axis not in AXES:
        typer.echo(f"error: unknown axis {axis!r} (one of: {', '.join(AXES)})", err=True)
        raise typer.Exit(2)
    try:
        with connect() as conn:
            explanation = explain_track(conn, track)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if json:
        data = dataclasses.asdict(explanation)
        if axis is not None:
            data["axes"] = [a for a in data["axes"] if a["axis"] == axis]
        typer.echo(json_module.dumps(data, indent=2))
    else:
        typer.echo(format_explanation(explanation, axis))
