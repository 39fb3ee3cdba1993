"""`sidetrack changes USER`: a user's change-points in weekly mood (CUSUM and PELT)."""

from __future__ import annotations

import typer

from sidetrack_pipeline.analytics import change_point_store
from sidetrack_pipeline.db.connection import connect, database_url


def changes(user: str = typer.Option(..., "--user", help="SideTrack user name.")) -> None:
    """List USER's change-points: axis, week, direction, magnitude, method."""
    with connect(database_url()) as conn:
        rows = change_point_store.for_user(conn, user)
    if not rows:
        typer.echo(f"no change-points for {user}")
        return
    typer.echo(f"{'axis':<10} {'week':<10} {'dir':<4} {'magnitude':>9}  method")
    for axis, week, direction, magnitude, method in rows:
        typer.echo(f"{axis:<10} {week.isoformat():<10} {direction:<4} {magnitude:>+9.3f}  {method}")
