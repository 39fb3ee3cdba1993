"""The local audio library: files under AUDIO_ROOT (plus identifiers from a beets database),
matched to catalogue tracks."""


import dagster as dg

from sidetrack_pipeline.defs.resources import DatabaseResource
from sidetrack_pipeline.ingest.beets_import import import_beets
from sidetrack_pipeline.ingest.library import match_files, scan_library
from sidetrack_pipeline.ingest.match_report import match_report
from sidetrack_pipeline.settings import get_settings


@dg.asset(group_name="library", kinds={"python", "postgres"})
def audio_files(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Every audio file under AUDIO_ROOT with its tags (Picard's MusicBrainz IDs, ISRC), content
    hash and, with fpcalc installed, chromaprint (only new or changed files are re-read). With
    BEETS_LIBRARY set, identifiers the files' own tags lack come from that beets database.
    Raw audio never leaves the machine; only tags and hashes are stored."""
    settings = get_settings()
    root = settings.audio_root
    if not root.is_dir():
        raise dg.Failure(f"AUDIO_ROOT {root} is not a folder; set AUDIO_ROOT to your music library")
    metadata = {"audio_root": str(root)}
    with database.connect() as conn:
        report = scan_library(conn, root)
        if settings.beets_library:
            beets = import_beets(conn, settings.beets_library, settings.beets_music_dir)
            context.log.info(f"beets {settings.beets_library}: {beets}")
            metadata.update({"beets_items": beets.items, "beets_imported": beets.imported,
                             "beets_missing_on_disk": beets.missing_on_disk})
    context.log.info(f"{root}: {report.files} files, {report.hashed} (re)hashed, {report.removed} removed")
    return dg.MaterializeResult(metadata={
        **metadata, "files": report.files, "hashed_this_run": report.hashed,
        "removed_this_run": report.removed, "files_without_tags": report.unreadable_tags})


@dg.asset(group_name="library", deps=[audio_files, "tracks", "musicbrainz_metadata"],
          kinds={"python", "postgres"})
def track_files(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    """Which local file each listened track is: by recording MBID, then ISRC, then a fuzzy
    artist + title match with a duration check (`file_match` says which). Files of tracks
    never listened to join the catalogue too."""
    with database.connect() as conn:
        report = match_files(conn)
        rate = match_report(conn, top=10)
    context.log.info(f"matched {report.files} files; {report.new_tracks} new tracks; "
                     f"{report.unmatched_tracks} listened tracks have no local file")
    missing = "\n".join(f"| {m.artist} | {m.title} | {m.listens} |" for m in rate.top_missing)
    return dg.MaterializeResult(metadata={
        "files": report.files, "new_tracks": report.new_tracks,
        "matched_existing_tracks": report.matched_existing,
        "listened_tracks_without_file": report.unmatched_tracks,
        "track_match_rate": round(rate.track_rate, 4),
        "listen_match_rate": round(rate.listen_rate, 4),
        **{f"matched_by_{method}": n for method, n in rate.by_method.items()},
        "most_played_without_file": dg.MetadataValue.md(
            "| artist | title | listens |\n|---|---|---:|\n" + missing if missing else "none"),
    })
