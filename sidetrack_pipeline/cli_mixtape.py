"""`sidetrack mixtape USER WEEK`: 60-90 minutes from the week's dominant sound cluster (HDBSCAN,
`track_clusters` / `cluster_week`), ordered for flow."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def mixtape(
    user: str = typer.Option(..., "--user", help="a SideTrack user name"),
    week: str = typer.Option(..., "--week", help="ISO week in the user's time zone, e.g. 2026-W05"),
    minutes: float = typer.Option(75, "--minutes", help="target length (the result stays within 60-90)"),
    m3u: Optional[Path] = typer.Option(None, "--m3u", help="write an extended M3U with local paths"),
    jspf: Optional[Path] = typer.Option(None, "--jspf", help="write a JSPF playlist (ListenBrainz rules)"),
    push: bool = typer.Option(False, "--push", help="create the playlist on ListenBrainz (user's token)"),
    public: bool = typer.Option(False, "--public", help="make the pushed playlist public"),
    seed: int = typer.Option(0, "--seed", help="k-medoids seed (same seed, same mixtape)"),
) -> None:
    """Print the tracklist (duration, BPM, Camelot key) and the total; optionally export and push."""
    import json
    import os

    from sidetrack_pipeline.analytics.mixtape import MixtapeError, build_mixtape
    from sidetrack_pipeline.analytics.mixtape_export import to_jspf, write_m3u
    from sidetrack_pipeline.analytics.mixtape_order import camelot_label
    from sidetrack_pipeline.db.connection import connect

    try:
        with connect() as conn:
            mix = build_mixtape(conn, user, week, minutes=minutes, seed=seed)
            token = None
            if push:
                from sidetrack_pipeline.users import get_user
                token = get_user(conn, user).listenbrainz_token(conn)
    except (MixtapeError, LookupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Mixtape for {mix.user}, {mix.week}: cluster {mix.cluster} "
               f"({mix.cluster_size} tracks, {mix.week_listens} listens that week)")
    for n, t in enumerate(mix.tracks, 1):
        bpm = f"{t.bpm:5.1f}" if t.bpm else "    ?"
        typer.echo(f"{n:2d}. {_clock(t.duration_s):>6}  {bpm} BPM  {camelot_label(t.key, t.mode):>3}  "
                   f"{t.artist} - {t.title}")
    typer.echo(f"Total: {_clock(mix.total_s)} ({len(mix.tracks)} tracks)")
    if m3u:
        write_m3u(mix, m3u)
        typer.echo(f"M3U written: {m3u}")
    doc, left_out = to_jspf(mix, public=public)
    if left_out and (jspf or push):
        typer.echo(f"{len(left_out)} track(s) without a recording MBID left out of the JSPF: "
                   + "; ".join(f"{t.artist} - {t.title}" for t in left_out))
    if jspf:
        jspf.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        typer.echo(f"JSPF written: {jspf}")
    if push:
        from sidetrack_pipeline.sources.listenbrainz_api import (
            DEFAULT_BASE_URL, ListenBrainzClient, ListenBrainzError)

        if token is None:
            typer.echo(f"error: {user} has no ListenBrainz token stored", err=True)
            raise typer.Exit(1)
        if not doc["playlist"]["track"]:
            typer.echo("error: no track has a recording MBID; nothing to push", err=True)
            raise typer.Exit(1)
        base_url = os.environ.get("LISTENBRAINZ_BASE_URL") or DEFAULT_BASE_URL
        try:
            with ListenBrainzClient(base_url) as client:
                mbid = client.create_playlist(token.reveal(), doc)
        except ListenBrainzError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Pushed to ListenBrainz: https://listenbrainz.org/playlist/{mbid}")
