"""The catalogue and the local library: identity reconciliation, scanning and file matching."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.library import match_files, reconcile_catalogue, scan_library
from sidetrack_pipeline.ingest.listens import import_listenbrainz_export
from tests.export_builder import listen_line, write_export_zip

REC = "30d08f4c-d825-4ae1-b79c-44242cddd7c0"
ART = "1c70a3fc-fa3c-4be1-8b55-c3192db8a884"
REL = "f1418001-7f1e-46af-bfdb-95faeded8841"
MAPPING = {"recording_mbid": REC, "artist_mbids": [ART], "release_mbid": REL, "artists": []}


def _count(url, sql):
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def _flac(path, artist, title, album, recording=None, seconds=1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(title))
    sf.write(path, (rng.standard_normal((int(44100 * seconds), 2)) * 0.1).astype("float32"), 44100)
    tags = FLAC(path)
    tags.update({"artist": artist, "title": title, "album": album})
    if recording:
        tags.update({"musicbrainz_trackid": recording, "musicbrainz_artistid": ART, "musicbrainz_albumid": REL})
    tags.save()
    return path


def _mixed_export(tmp_path):
    # The same recording, once mapped with MBIDs and twice from a client that sends none.
    return write_export_zip(tmp_path / "mixed.zip", {(2024, 3): [
        listen_line(1709300000, artist="Röyksopp", title="Some Resolve", release="Profound Mysteries II",
                    mapping=MAPPING),
        listen_line(1709400000, artist="ROYKSOPP", title="Some Resolve!", release="Profound Mysteries II"),
        listen_line(1709500000, artist="Röyksopp", title="Some Resolve", release="Profound Mysteries II"),
    ]})


def test_name_only_identities_merge_into_mbid_ones(db_url, tmp_path):
    export = _mixed_export(tmp_path)
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", export)
    assert _count(db_url, "select count(*) from track") == 2
    assert _count(db_url, "select count(*) from artist") == 2
    with connect(db_url) as conn:
        report = reconcile_catalogue(conn)
    assert (report.artists, report.releases, report.tracks) == (1, 1, 1)
    assert _count(db_url, "select count(*) from track") == 1
    assert _count(db_url, "select count(*) from artist") == 1
    assert _count(db_url, "select count(*) from release") == 1
    assert _count(db_url, f"select count(*) from listen l join track t using (track_id) where t.mbid = '{REC}'") == 3
    # Re-importing finds the merged track: nothing new, nothing to merge again.
    with connect(db_url) as conn:
        again = import_listenbrainz_export(conn, "alice", export)
        assert again.inserted == 0
        report = reconcile_catalogue(conn)
    assert (report.artists, report.releases, report.tracks) == (0, 0, 0)
    assert _count(db_url, "select count(*) from listen") == 3


def test_scan_and_match_link_files_to_tracks(db_url, tmp_path):
    with connect(db_url) as conn:
        import_listenbrainz_export(conn, "alice", _mixed_export(tmp_path))
        reconcile_catalogue(conn)
    library = tmp_path / "library"
    tagged = _flac(library / "Röyksopp" / "01 Some Resolve.flac", "Röyksopp", "Some Resolve",
                   "Profound Mysteries II", recording=REC)
    _flac(library / "Other" / "02 Unheard.flac", "Other Artist", "Unheard", "B-Sides")
    (library / "notes.txt").write_text("not audio")
    broken = library / "broken.flac"
    broken.write_bytes(b"\x00" * 64)

    with connect(db_url) as conn:
        scan = scan_library(conn, library)
        match = match_files(conn)
    assert (scan.files, scan.hashed, scan.unreadable_tags) == (3, 3, 1)
    assert match.new_tracks == 1 and match.unmatched_tracks == 0
    assert _count(db_url, f"select local_path from track where mbid = '{REC}'") == str(tagged.resolve())
    assert _count(db_url, "select count(*) from track where local_path is not null") == 2

    # Unchanged files are not re-hashed; a removed file unlinks its track.
    with connect(db_url) as conn:
        assert scan_library(conn, library).hashed == 0
    tagged.unlink()
    with connect(db_url) as conn:
        assert scan_library(conn, library).removed == 1
        match_files(conn)
    assert _count(db_url, f"select count(*) from track where mbid = '{REC}' and local_path is null") == 1
