"""Per-user listening sources (ListenBrainz API, Last.fm) and web metadata (Last.fm tags,
MusicBrainz), each under its own resource.

The per-user assets are partitioned by the dynamic partitions `users` (one partition per
SideTrack user; `user_partitions_sensor` keeps them in step with the `users` table). A user
without a configured account for a source is skipped, not failed. MusicBrainz and Last.fm work
runs in concurrency pools of the same names (limit 1 in SideTrack's dagster.yaml), and the
clients space their requests across processes on top of that.
"""

import dagster as dg

from sidetrack_pipeline.defs.resources import (DatabaseResource, LastfmResource, ListenBrainzResource,
                                               MusicBrainzResource)
from sidetrack_pipeline.settings import get_settings
from sidetrack_pipeline.users import get_user

GROUP = "sources"
users_partitions = dg.DynamicPartitionsDefinition(name="users")


def api_retry_policy() -> dg.RetryPolicy:
    """Step retries for the web-API assets, on top of the clients' own per-request retries: a
    sync that still fails (a long 503 outage, a connection reset mid-page) is re-run from its
    committed cursor after API_RETRY_DELAY_SECONDS, doubling, with jitter, API_RETRY_ATTEMPTS
    times. Read when the code location loads."""
    settings = get_settings()
    return dg.RetryPolicy(max_retries=settings.api_retry_attempts, delay=settings.api_retry_delay_seconds,
                          backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


API_RETRY = api_retry_policy()


def _skip(context, reason: str) -> dg.MaterializeResult:
    context.log.warning(reason)
    return dg.MaterializeResult(metadata={"skipped": reason})


@dg.asset(group_name=GROUP, partitions_def=users_partitions, kinds={"python", "postgres"},
          retry_policy=API_RETRY,
          description="The user's ListenBrainz history via the API: full backfill once, then "
                      "incremental from a cursor committed with each page (into `listen`).")
def listenbrainz_listens(context: dg.AssetExecutionContext, database: DatabaseResource,
                         listenbrainz: ListenBrainzResource):
    from sidetrack_pipeline.ingest.listenbrainz_sync import sync_listenbrainz

    user_name = context.partition_key
    with database.connect() as conn:
        settings = get_user(conn, user_name)
        if not settings.listenbrainz_user:
            return _skip(context, f"{user_name}: no ListenBrainz user configured "
                                  f"(sidetrack users set {user_name} --listenbrainz-user NAME)")
        with listenbrainz.client() as client:
            report = sync_listenbrainz(conn, user_name, client, settings.listenbrainz_user,
                                       on_page=lambda r: context.log.debug(f"page {r.pages}"))
    context.log.info(report.summary() if hasattr(report, "summary") else str(report))
    return dg.MaterializeResult(metadata=_counts(report))


# After ListenBrainz: when both sources have a play, the one kept is ListenBrainz's, which
# usually carries MusicBrainz IDs (parity merging keeps the first stored).
@dg.asset(group_name=GROUP, partitions_def=users_partitions, kinds={"python", "postgres"},
          pool="lastfm", deps=[listenbrainz_listens], retry_policy=API_RETRY,
          description="The user's Last.fm scrobbles (user.getRecentTracks), merged with the same "
                      "plays from ListenBrainz (parity), into `listen`.")
def lastfm_listens(context: dg.AssetExecutionContext, database: DatabaseResource,
                   lastfm: LastfmResource):
    from sidetrack_pipeline.ingest.lastfm_import import import_lastfm

    user_name = context.partition_key
    with database.connect() as conn:
        settings = get_user(conn, user_name)
        if not settings.lastfm_user:
            return _skip(context, f"{user_name}: no Last.fm user configured "
                                  f"(sidetrack users set {user_name} --lastfm-user NAME)")
        if not lastfm.configured():
            return _skip(context, "LASTFM_API_KEY is not set: Last.fm is skipped")
        with lastfm.client() as client:
            report = import_lastfm(conn, user_name, client, settings.lastfm_user)
    return dg.MaterializeResult(metadata=_counts(report))


@dg.asset(group_name=GROUP, deps=["tracks", "artists"], kinds={"python", "postgres"},
          pool="lastfm", retry_policy=API_RETRY,
          description="Last.fm top tags of listened tracks and artists (`track_tag`, "
                      "`artist_tag`, source lastfm), cached with a TTL in `api_cache`.")
def lastfm_tags(context: dg.AssetExecutionContext, database: DatabaseResource,
                lastfm: LastfmResource):
    from sidetrack_pipeline.ingest.lastfm_tags import fetch_lastfm_tags

    if not lastfm.configured():
        return _skip(context, "LASTFM_API_KEY is not set: Last.fm tags are skipped")
    with database.connect() as conn, lastfm.client() as client:
        report = fetch_lastfm_tags(conn, client)
    return dg.MaterializeResult(metadata=_counts(report))


@dg.asset(group_name=GROUP, deps=["tracks", "artists", "releases"], kinds={"python", "postgres"},
          pool="musicbrainz", retry_policy=API_RETRY,
          description="MusicBrainz metadata of catalogue tracks: recording, artist credits, "
                      "releases, labels, ISRCs, tags/genres, remix/cover relations; lookups by "
                      "MBID, search fallback for the rest; responses cached in `api_cache`.")
def musicbrainz_metadata(context: dg.AssetExecutionContext, database: DatabaseResource,
                         musicbrainz: MusicBrainzResource):
    from sidetrack_pipeline.ingest.musicbrainz_resolve import resolve_tracks

    if not musicbrainz.configured():
        return _skip(context, "MUSICBRAINZ_CONTACT is not set (MusicBrainz requires a contact in "
                              "the User-Agent): metadata resolution is skipped")
    with database.connect() as conn, musicbrainz.client(database.get_url()) as client:
        report = resolve_tracks(conn, client)
    return dg.MaterializeResult(metadata=_counts(report))


@dg.asset(group_name=GROUP, deps=[musicbrainz_metadata], kinds={"postgres"},
          description="Track graph (`graph_edges`): same artist, same release, same label, "
                      "remix of, cover of — from the MusicBrainz metadata.")
def track_graph(context: dg.AssetExecutionContext, database: DatabaseResource):
    from sidetrack_pipeline.ingest.musicbrainz_graph import build_graph_edges

    with database.connect() as conn:
        counts = build_graph_edges(conn)
    return dg.MaterializeResult(metadata={str(k): int(v) for k, v in dict(counts).items()})


def _counts(report) -> dict:
    """The integer fields of a report dataclass, as asset metadata."""
    from dataclasses import asdict, is_dataclass

    def numbers(fields: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in fields.items():
            if isinstance(value, dict):
                out.update(numbers(value, f"{prefix}{key}_"))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}{key}"] = value
            elif isinstance(value, list):
                out[f"{prefix}{key}"] = len(value)
        return out
    return numbers(asdict(report) if is_dataclass(report) else dict(vars(report)))
