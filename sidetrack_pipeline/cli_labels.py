"""`sidetrack labels …`: which tracks to label next for a personal axis, and adding labels."""

from __future__ import annotations

import typer

labels_app = typer.Typer(help="Your own labels for the vibe axes (personal calibration).",
                         no_args_is_help=True)


@labels_app.command("suggest")
def suggest(
    user: str = typer.Option(..., help="SideTrack user name"),
    axis: str = typer.Option(..., help="axis to label, e.g. energy"),
    k: int = typer.Option(10, min=1, help="how many tracks"),
) -> None:
    """The tracks whose labels would teach your personal model the most, with the reason."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.scoring.calibration_store import label_suggestions

    try:
        with connect(upgrade()) as conn:
            picks = label_suggestions(conn, user, axis, k=k)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if not picks:
        typer.echo("no tracks with a vector yet (run the analysis first)")
        return
    for p in picks:
        typer.echo(f"{p.track_id:>7}  {p.artist} – {p.title}\n         {p.reason}")
    typer.echo(f"\nadd one with: sidetrack labels add --user {user} --track-id ID --axis {axis} "
               f"--value 0..1")


@labels_app.command("add")
def add(
    user: str = typer.Option(..., help="SideTrack user name"),
    track_id: int = typer.Option(..., help="track id (from `suggest`)"),
    axis: str = typer.Option(..., help="axis, e.g. energy"),
    value: float = typer.Option(..., help="your value, 0 (none) .. 1 (most)"),
) -> None:
    """Store your label of one track on one axis (source 'cli'; replaces an earlier one)."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.scoring.calibration_store import add_label

    try:
        with connect(upgrade()) as conn:
            add_label(conn, user, track_id, axis, value, source="cli")
    except (LookupError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{user}: track {track_id} {axis} = {value:g}")
