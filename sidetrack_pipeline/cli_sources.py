"""Source commands: `sync`, `import-lastfm`, `resolve`, `scan`, `import-beets` — each shows
progress on stderr and ends with a summary."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from sidetrack_pipeline.cli_progress import progress


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _epoch(text: Optional[str]) -> Optional[int]:
    """ISO date/time (UTC unless it says otherwise) or epoch seconds → epoch seconds."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def sync(user: str = typer.Option(..., "--user", help="SideTrack user (see `sidetrack users`)"),
         full_resync: bool = typer.Option(
             False, "--full-resync",
             help="re-read the whole ListenBrainz history (finds listens submitted late with old "
                  "timestamps, which incremental syncs do not look back for; nothing is stored twice)"),
         ) -> None:
    """Fetch a user's new ListenBrainz and Last.fm listens (first run: the full history)."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.users import get_user

    url = upgrade()
    with connect(url) as conn:
        try:
            settings = get_user(conn, user)
        except LookupError as exc:
            _fail(str(exc))
        if not settings.listenbrainz_user and not settings.lastfm_user:
            _fail(f"{user} has no ListenBrainz or Last.fm account configured "
                  f"(sidetrack users set {user} --listenbrainz-user NAME --lastfm-user NAME)")
        failed = False
        if settings.listenbrainz_user:
            failed |= not _sync_listenbrainz(conn, settings, full_resync)
        if settings.lastfm_user:
            failed |= not _sync_lastfm(conn, user, settings.lastfm_user)
    raise typer.Exit(1 if failed else 0)


def _sync_listenbrainz(conn, settings, full_resync: bool = False) -> bool:
    from sidetrack_pipeline.ingest.listenbrainz_sync import SyncError, sync_listenbrainz
    from sidetrack_pipeline.sources.listenbrainz_api import (DEFAULT_BASE_URL, ListenBrainzClient,
                                                             ListenBrainzError)

    base_url = os.environ.get("LISTENBRAINZ_BASE_URL") or DEFAULT_BASE_URL
    with ListenBrainzClient(base_url) as client, progress("ListenBrainz listens") as update:
        seen = [0]

        def on_page(report) -> None:
            update(report.fetched - seen[0], note=f"page {report.pages}, +{report.inserted} new")
            seen[0] = report.fetched
        try:
            token = settings.listenbrainz_token(conn)
            if token:
                client.validate_token(token.reveal())
            report = sync_listenbrainz(conn, settings.user_name, client,
                                       settings.listenbrainz_user, on_page=on_page,
                                       full_resync=full_resync)
        except (ListenBrainzError, SyncError) as exc:
            typer.echo(f"ListenBrainz: {exc} (everything fetched before is kept)", err=True)
            return False
    typer.echo(report.summary())
    return report.error is None


def _sync_lastfm(conn, user: str, lastfm_user: str) -> bool:
    if not os.environ.get("LASTFM_API_KEY", "").strip():
        typer.echo("Last.fm: skipped, LASTFM_API_KEY is not set", err=True)
        return False
    return _import_lastfm(conn, user, lastfm_user, None, None)


def _import_lastfm(conn, user: str, lastfm_user: str, from_ts, to_ts) -> bool:
    from sidetrack_pipeline.ingest.lastfm_import import SyncAlreadyRunning, import_lastfm
    from sidetrack_pipeline.sources.lastfm import DEFAULT_BASE_URL, LastfmClient, LastfmError

    base_url = os.environ.get("LASTFM_BASE_URL") or DEFAULT_BASE_URL
    try:
        with LastfmClient(os.environ.get("LASTFM_API_KEY", ""), base_url=base_url) as client, \
                progress("Last.fm scrobbles") as update:
            seen = [0]

            def on_page(report) -> None:
                update(report.fetched - seen[0],
                       note=f"page {report.pages}/{report.total_pages}, +{report.inserted} new")
                seen[0] = report.fetched
            report = import_lastfm(conn, user, client, lastfm_user, from_ts=from_ts, to_ts=to_ts,
                                   on_page=on_page)
    except (LastfmError, SyncAlreadyRunning) as exc:
        typer.echo(f"Last.fm: {exc} (everything fetched before is kept)", err=True)
        return False
    typer.echo(report.summary())
    return True


def import_lastfm_command(
    user: str = typer.Option(..., "--user", help="SideTrack user the scrobbles belong to"),
    lastfm_user: Optional[str] = typer.Option(None, help="Last.fm user (default: the user's setting)"),
    since: Optional[str] = typer.Option(None, "--from", help="only scrobbles after this (ISO date or epoch)"),
    until: Optional[str] = typer.Option(None, "--to", help="only scrobbles before this (ISO date or epoch)"),
) -> None:
    """Import Last.fm scrobbles (needs LASTFM_API_KEY); plays ListenBrainz has are merged."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.users import get_user

    if not os.environ.get("LASTFM_API_KEY", "").strip():
        _fail("set LASTFM_API_KEY (a Last.fm API key: https://www.last.fm/api/account/create)")
    with connect(upgrade()) as conn:
        if lastfm_user is None:
            try:
                lastfm_user = get_user(conn, user).lastfm_user
            except LookupError:
                lastfm_user = None
        if not lastfm_user:
            _fail(f"no Last.fm user: pass --lastfm-user or `sidetrack users set {user} --lastfm-user NAME`")
        ok = _import_lastfm(conn, user, lastfm_user, _epoch(since), _epoch(until))
    raise typer.Exit(0 if ok else 1)


def resolve(limit: Optional[int] = typer.Option(None, help="at most this many tracks this run")) -> None:
    """Resolve tracks on MusicBrainz (needs MUSICBRAINZ_CONTACT), then rebuild the track graph."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.ingest.musicbrainz_graph import build_graph_edges
    from sidetrack_pipeline.ingest.musicbrainz_resolve import pending_track_ids, resolve_tracks
    from sidetrack_pipeline.ingest.response_cache import DbResponseCache
    from sidetrack_pipeline.sources.musicbrainz import MusicBrainzClient, MusicBrainzConfigError

    url = upgrade()
    with connect(url) as conn:
        with conn.cursor() as cur:
            pending = len(pending_track_ids(cur, limit=limit))
        conn.commit()
        try:
            with DbResponseCache.open(url) as cache, \
                    MusicBrainzClient(os.environ.get("MUSICBRAINZ_CONTACT"), cache=cache) as client, \
                    progress("MusicBrainz", pending) as update:
                report = resolve_tracks(conn, client, limit=limit,
                                        on_item=lambda item: update(1, note=str(getattr(item, "status", ""))))
        except MusicBrainzConfigError as exc:
            _fail(str(exc))
        edges = build_graph_edges(conn)
    typer.echo(report.summary())
    typer.echo("graph edges: " + ", ".join(f"{k} {v}" for k, v in edges.items()))
    raise typer.Exit(0 if not report.errors else 1)


def scan(
    root: Optional[Path] = typer.Option(None, help="music folder (default: AUDIO_ROOT)"),
    user: Optional[str] = typer.Option(None, "--user", help="match rate of this user only"),
    top: int = typer.Option(20, help="how many unmatched top listens to list"),
) -> None:
    """Scan the music folder (new/changed files only), match listens to files, report the match rate."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.ingest.library import match_files, scan_library
    from sidetrack_pipeline.ingest.match_report import match_report
    from sidetrack_pipeline.settings import get_settings

    root = root or get_settings().audio_root
    if not root.is_dir():
        _fail(f"{root} is not a folder (set AUDIO_ROOT or pass --root)")
    with connect(upgrade()) as conn:
        with progress("scanning"):
            scanned = scan_library(conn, root)
        with progress("matching"):
            matched = match_files(conn)
        try:
            rate = match_report(conn, user_name=user, top=top)
        except LookupError as exc:
            _fail(str(exc))
    typer.echo(f"{root}: {scanned.files} files, {scanned.hashed} new or changed, "
               f"{scanned.removed} removed, {scanned.unreadable_tags} without tags")
    typer.echo(f"files: {matched.new_tracks} new tracks, {matched.untagged_files} untagged, "
               f"{matched.unused_files} unused, {len(matched.ambiguous)} ties decided by path")
    _print_match_rate(rate)


def _print_match_rate(rate) -> None:
    who = rate.user_name or "all users"
    typer.echo(f"match rate ({who}): {rate.tracks_with_file}/{rate.listened_tracks} listened tracks "
               f"({100 * rate.track_rate:.1f} %), {rate.listens_with_file}/{rate.listens} listens "
               f"({100 * rate.listen_rate:.1f} %)")
    if rate.by_method:
        typer.echo("  by " + ", ".join(f"{m} {n}" for m, n in sorted(rate.by_method.items())))
    if rate.top_missing:
        typer.echo("most played without a local file (worth adding):")
        for item in rate.top_missing:
            typer.echo(f"  {item.listens:6d}  {item.artist} - {item.title}")


def import_beets_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="beets library.db"),
    music_dir: Optional[Path] = typer.Option(None, help="beets' `directory` (for relative paths)"),
) -> None:
    """Take MusicBrainz IDs and ISRCs from a beets library for files whose tags lack them."""
    from sidetrack_pipeline.db import connect, upgrade
    from sidetrack_pipeline.ingest.beets_import import import_beets

    try:
        with connect(upgrade()) as conn:
            report = import_beets(conn, path, music_dir)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{path}: {report.items} items; {report.imported} files take identifiers from beets "
               f"({report.changed} changed now), {report.nothing_to_add} already tagged, "
               f"{report.missing_on_disk} missing on disk, {report.not_scanned} not scanned yet "
               f"(run `sidetrack scan` first), {report.without_mbid} without a recording MBID")


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
    app.command("import-lastfm")(import_lastfm_command)
    app.command("resolve")(resolve)
    app.command("scan")(scan)
    app.command("import-beets")(import_beets_command)
