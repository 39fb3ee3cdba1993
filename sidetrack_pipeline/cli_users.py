"""`sidetrack users …`: users and their settings (tokens are read hidden, stored encrypted)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

users_app = typer.Typer(help="SideTrack users and their source settings.", no_args_is_help=True)


def _read_token() -> str:
    # Never from the command line (it would land in shell history and `ps`): hidden prompt on a
    # terminal, else one line of standard input (for scripts: `... --listenbrainz-token < file`).
    if sys.stdin.isatty():
        return typer.prompt("ListenBrainz token", hide_input=True).strip()
    return sys.stdin.readline().strip()


@users_app.command("set")
def set_(
    name: str = typer.Argument(..., help="SideTrack user name (created if new)"),
    timezone: Optional[str] = typer.Option(None, help="IANA time zone, e.g. Europe/Berlin"),
    listenbrainz_user: Optional[str] = typer.Option(None, help="ListenBrainz user name ('' clears)"),
    lastfm_user: Optional[str] = typer.Option(None, help="Last.fm user name ('' clears)"),
    listenbrainz_token: bool = typer.Option(
        False, "--listenbrainz-token", help="read the ListenBrainz token (hidden prompt, or stdin)"),
    clear_listenbrainz_token: bool = typer.Option(False, help="forget the stored token"),
) -> None:
    """Create or update a user; only the options given change."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.users import SecretKeyError, Secret, set_user

    changes: dict = {}
    if listenbrainz_user is not None:
        changes["listenbrainz_user"] = listenbrainz_user
    if lastfm_user is not None:
        changes["lastfm_user"] = lastfm_user
    if clear_listenbrainz_token:
        changes["listenbrainz_token"] = None
    elif listenbrainz_token:
        token = _read_token()
        if not token:
            typer.echo("error: empty token", err=True)
            raise typer.Exit(2)
        changes["listenbrainz_token"] = Secret(token)
    try:
        with connect(upgrade()) as conn:
            user = set_user(conn, name, timezone=timezone, **changes)
    except (SecretKeyError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(_describe(user))


@users_app.command("list")
def list_() -> None:
    """Every user and what is configured (tokens are never shown)."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.users import list_users

    with connect(upgrade()) as conn:
        users = list_users(conn)
    for user in users:
        typer.echo(_describe(user))
    if not users:
        typer.echo("no users yet (sidetrack users set NAME ...)")


@users_app.command("keygen")
def keygen() -> None:
    """Print a new SIDETRACK_SECRET_KEY (the key that encrypts stored tokens)."""
    from sidetrack_pipeline.users import SECRET_KEY_ENV, generate_key

    typer.echo(f"{SECRET_KEY_ENV}={generate_key()}")


def _describe(user) -> str:
    return (f"{user.user_name}: timezone {user.timezone}, "
            f"listenbrainz {user.listenbrainz_user or '-'} "
            f"(token {'stored, encrypted' if user.has_listenbrainz_token else 'not set'}), "
            f"last.fm {user.lastfm_user or '-'}")
