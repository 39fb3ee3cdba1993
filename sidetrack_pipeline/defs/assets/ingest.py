"""listens → tracks: import configured ListenBrainz exports, then reconcile track identities."""

from __future__ import annotations

import dagster as dg

from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.ingest.library import reconcile_tracks
from sidetrack_pipeline.ingest.listens import import_listenbrainz_export
from sidetrack_pipeline.settings import get_settings


@dg.asset(group_name="ingest", kinds={"python", "postgres"})
def listens(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Listening history: every ListenBrainz export named in LISTENS_EXPORTS (user=path;…), imported
    idempotently into `listen` (the same play is never stored twice; bad lines are kept in
    `listen_reject`). Exports imported with `sidetrack import-listens` land in the same tables."""
    reports = []
    for user, path in get_settings().listens_exports:
        with database.connect() as conn:
            report = import_listenbrainz_export(conn, user, path)
        context.log.info(report.summary())
        for rejected in report.rejected[:20]:
            context.log.warning(f"rejected {rejected.file}:{rejected.line_no}: {rejected.reason}")
        reports.append(report)
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(distinct user_id), min(played_at), max(played_at) from listen")
        total, users, first, last = cur.fetchone()
    return dg.MaterializeResult(metadata={
        "listens_total": total, "users": users,
        "first_listen": str(first), "last_listen": str(last),
        "inserted_this_run": sum(r.inserted for r in reports),
        "duplicates_this_run": sum(r.duplicates for r in reports),
        "rejected_this_run": sum(len(r.rejected) for r in reports),
    })


@dg.asset(group_name="ingest", deps=[listens], kinds={"python", "postgres"})
def tracks(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """The track catalogue (artist, release, track), from the listens' own metadata. Name-only
    tracks are merged into the MBID-identified track of the same artist and title."""
    with database.connect() as conn:
        merged = reconcile_tracks(conn)
        with conn.cursor() as cur:
            cur.execute("select count(*), count(mbid) from track")
            total, with_mbid = cur.fetchone()
            cur.execute("select count(*) from artist")
            artists = cur.fetchone()[0]
    context.log.info(f"{total} tracks ({with_mbid} with MBID), merged {merged} name-only duplicates")
    return dg.MaterializeResult(metadata={"tracks": total, "tracks_with_mbid": with_mbid,
                                          "artists": artists, "merged_this_run": merged})
