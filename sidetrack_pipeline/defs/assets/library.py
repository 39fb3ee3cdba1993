"""The local audio library: files under AUDIO_ROOT, matched to catalogue tracks."""


import dagster as dg

from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.ingest.library import match_files, scan_library
from sidetrack_pipeline.settings import get_settings


@dg.asset(group_name="library", kinds={"python", "postgres"})
def audio_files(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Every audio file under AUDIO_ROOT with its tags and content hash (only new or changed
    files are re-hashed). Raw audio never leaves the machine; only tags and hashes are stored."""
    root = get_settings().audio_root
    if not root.is_dir():
        raise dg.Failure(f"AUDIO_ROOT {root} is not a folder; set AUDIO_ROOT to your music library")
    with database.connect() as conn:
        report = scan_library(conn, root)
    context.log.info(f"{root}: {report.files} files, {report.hashed} (re)hashed, {report.removed} removed")
    return dg.MaterializeResult(metadata={
        "audio_root": str(root), "files": report.files, "hashed_this_run": report.hashed,
        "removed_this_run": report.removed, "files_without_tags": report.unreadable_tags})


@dg.asset(group_name="library", deps=[audio_files, "tracks"], kinds={"python", "postgres"})
def track_files(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Which local file each track is: matched by recording MBID, else by artist + title.
    Files of tracks never listened to join the catalogue too."""
    with database.connect() as conn:
        report = match_files(conn)
    context.log.info(f"matched {report.files} files; {report.new_tracks} new tracks; "
                     f"{report.unmatched_tracks} listened tracks have no local file")
    return dg.MaterializeResult(metadata={
        "files": report.files, "new_tracks": report.new_tracks,
        "matched_existing_tracks": report.matched_existing,
        "listened_tracks_without_file": report.unmatched_tracks})
