"""listens → catalogue: import configured ListenBrainz exports, then reconcile track identities."""

import dagster as dg

from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.ingest.library import reconcile_catalogue
from sidetrack_pipeline.ingest.listens import import_listenbrainz_export
from sidetrack_pipeline.settings import get_settings

GROUP = "ingest"


@dg.multi_asset(
    specs=[
        dg.AssetSpec("listens", group_name=GROUP, kinds={"python", "postgres"},
                     deps=["listenbrainz_listens", "lastfm_listens"],
                     description="Every play of every user (`listen`): the same play is never stored "
                                 "twice; rejected export lines are kept in `listen_reject`."),
        dg.AssetSpec("users", group_name=GROUP, kinds={"postgres"},
                     description="SideTrack users and their time zones (`users`)."),
    ],
)
def import_listens(context: dg.AssetExecutionContext, database: DatabaseResource):
    """Import every ListenBrainz export named in LISTENS_EXPORTS (user=path;…) idempotently.
    Exports imported with `sidetrack import-listens` land in the same tables."""
    reports = []
    for user, path in get_settings().listens_exports:
        with database.connect() as conn:
            report = import_listenbrainz_export(conn, user, path)
        context.log.info(report.summary())
        for rejected in report.rejected[:20]:
            context.log.warning(f"rejected {rejected.file}:{rejected.line_no}: {rejected.reason}")
        reports.append(report)
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*), min(played_at), max(played_at) from listen")
        total, first, last = cur.fetchone()
        cur.execute("select count(*) from users")
        users = cur.fetchone()[0]
    yield dg.MaterializeResult(asset_key="listens", metadata={
        "listens_total": total, "first_listen": str(first), "last_listen": str(last),
        "inserted_this_run": sum(r.inserted for r in reports),
        "duplicates_this_run": sum(r.duplicates for r in reports),
        "rejected_this_run": sum(len(r.rejected) for r in reports),
    })
    yield dg.MaterializeResult(asset_key="users", metadata={"users": users})


@dg.multi_asset(
    specs=[
        dg.AssetSpec("tracks", group_name=GROUP, deps=["listens"], kinds={"postgres"},
                     description="The track catalogue (`track`), from the listens' own metadata and "
                                 "the local files' tags."),
        dg.AssetSpec("artists", group_name=GROUP, deps=["listens"], kinds={"postgres"},
                     description="Artists (`artist`), keyed by MBID or normalised name."),
        dg.AssetSpec("releases", group_name=GROUP, deps=["listens"], kinds={"postgres"},
                     description="Releases (`release`), keyed by MBID or artist + normalised title."),
    ],
)
def catalogue(context: dg.AssetExecutionContext, database: DatabaseResource):
    """Reconcile identities: name-only artists, releases and tracks merge into their
    MBID-identified twins (listens and labels move with them)."""
    with database.connect() as conn:
        merged = reconcile_catalogue(conn)
        with conn.cursor() as cur:
            cur.execute("select count(*), count(mbid) from track")
            total, with_mbid = cur.fetchone()
            cur.execute("select count(*) from artist")
            artists = cur.fetchone()[0]
            cur.execute("select count(*) from release")
            releases = cur.fetchone()[0]
    context.log.info(f"{total} tracks ({with_mbid} with MBID); merged name-only duplicates: "
                     f"{merged.artists} artists, {merged.releases} releases, {merged.tracks} tracks")
    yield dg.MaterializeResult(asset_key="tracks", metadata={
        "tracks": total, "tracks_with_mbid": with_mbid, "merged_this_run": merged.tracks})
    yield dg.MaterializeResult(asset_key="artists", metadata={"artists": artists,
                                                              "merged_this_run": merged.artists})
    yield dg.MaterializeResult(asset_key="releases", metadata={"releases": releases,
                                                               "merged_this_run": merged.releases})
