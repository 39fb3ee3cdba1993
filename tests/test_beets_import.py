"""A beets library database as a source of identifiers: fills what tags lack, never overwrites
them, survives re-scans, refuses what is not a beets database, and finds moved files again."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.library import import_beets, match_files, scan_library
from tests.library_builder import listen_history, make_audio, tag_like_picard

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")

SCHEMA = Path(__file__).parent / "fixtures" / "beets_2_14_library.sql"
REC_UNTAGGED = "55555555-5555-4555-8555-555555555555"
REC_TAGGED = "66666666-6666-4666-8666-666666666666"
REC_BEETS_WRONG = "77777777-7777-4777-8777-777777777777"
ART = "1c70a3fc-fa3c-4be1-8b55-c3192db8a884"
REL = "f1418001-7f1e-46af-bfdb-95faeded8841"


def _beets_library(db_file: Path, items: list[dict], music_dir: Path | None = None) -> Path:
    """A beets database with beets' own schema; like beets 2.x, paths inside `music_dir` are
    stored relative to it ('/'-separated bytes), other paths absolute; unknown values are ''."""
    con = sqlite3.connect(db_file)
    con.executescript(SCHEMA.read_text())
    for item in items:
        path = Path(item["path"])
        if music_dir is not None and path.is_relative_to(music_dir):
            path = path.relative_to(music_dir)
        row = {"mb_trackid": "", "mb_artistid": "", "mb_albumid": "", "isrc": "", "artist": "",
               "title": "", "album": "", "length": 4.0, **item, "path": os.fsencode(path.as_posix())}
        con.execute(f"insert into items ({', '.join(row)}) values ({', '.join('?' * len(row))})", list(row.values()))
    con.commit()
    con.close()
    return db_file


def _files(db_url):
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select path, recording_mbid::text, artist_mbid::text, isrc, artist, title, album,
                              beets_fields, tag_source from audio_file order by path""")
        return {Path(row[0]).name: row[1:] for row in cur.fetchall()}


def _library(tmp_path):
    root = tmp_path / "music"
    untagged = make_audio(root / "Unknown" / "track01.flac")
    tagged = tag_like_picard(make_audio(root / "Tagged" / "Right Title.mp3"), artist="Tagged Artist",
                             title="Right Title", recording=REC_TAGGED)
    complete = tag_like_picard(make_audio(root / "Complete" / "Song.ogg"), artist="C", title="Song",
                               album="LP", recording=REC_UNTAGGED.replace("5", "8"), artist_ids=[ART],
                               release=REL, isrc="USRC17607839")
    outside = make_audio(tmp_path / "elsewhere" / "other.flac")
    items = [
        {"path": untagged, "mb_trackid": REC_UNTAGGED, "mb_artistid": ART, "mb_albumid": REL,
         "isrc": "GBAYE0601498", "artist": "Beets Artist", "title": "Beets Title", "album": "Beets Album"},
        {"path": tagged, "mb_trackid": REC_BEETS_WRONG, "artist": "Other", "title": "Wrong Title",
         "isrc": "GB-AYE-06-01499"},
        {"path": complete, "mb_trackid": REC_UNTAGGED.replace("5", "8"), "mb_artistid": ART, "mb_albumid": REL,
         "isrc": "USRC17607839", "artist": "C", "title": "Song", "album": "LP"},
        {"path": root / "Gone" / "deleted.flac", "mb_trackid": REC_UNTAGGED.replace("5", "9")},
        {"path": outside, "title": "Outside"},                           # no MBID, not under AUDIO_ROOT
    ]
    return root, items


def test_beets_fills_what_tags_lack_and_never_overwrites_them(db_url, tmp_path):
    root, items = _library(tmp_path)
    beets_db = _beets_library(tmp_path / "library.db", items, music_dir=root)
    with connect(db_url) as conn:
        scan_library(conn, root)
        with pytest.raises(ValueError, match="relative to beets' music directory; pass music_dir"):
            import_beets(conn, beets_db)
    assert all(row[-1] == "file" for row in _files(db_url).values())

    with connect(db_url) as conn:
        report = import_beets(conn, beets_db, music_dir=root)
    assert (report.items, report.imported, report.nothing_to_add, report.missing_on_disk,
            report.not_scanned, report.without_mbid, report.changed) == (5, 2, 1, 1, 1, 1, 2)
    files = _files(db_url)
    assert files["track01.flac"] == (REC_UNTAGGED, ART, "GBAYE0601498", "Beets Artist", "Beets Title",
                                     "Beets Album", ["recording_mbid", "artist_mbid", "release_mbid", "isrc",
                                                     "artist", "title", "album"], "beets")
    # The file's own tags win; beets only adds the ISRC they lack.
    assert files["Right Title.mp3"] == (REC_TAGGED, None, "GBAYE0601499", "Tagged Artist", "Right Title",
                                        None, ["isrc"], "beets")
    assert files["Song.ogg"][-2:] == ([], "file")

    # Importing again, and re-scanning, change nothing.
    with connect(db_url) as conn:
        again = import_beets(conn, beets_db, music_dir=root)
        assert scan_library(conn, root).hashed == 0
    assert (again.imported, again.changed) == (2, 0) and _files(db_url) == files

    # A changed file is re-read: its new own title wins, what beets gave and the tags lack stays.
    tag_like_picard(root / "Unknown" / "track01.flac", title="Own Title")
    with connect(db_url) as conn:
        assert scan_library(conn, root).hashed == 1
    assert _files(db_url)["track01.flac"] == (
        REC_UNTAGGED, ART, "GBAYE0601498", "Beets Artist", "Own Title", "Beets Album",
        ["recording_mbid", "artist_mbid", "release_mbid", "isrc", "artist", "album"], "beets")

    # Beets corrected: a re-import refreshes what came from it (and only that).
    beets_db.unlink()
    items[0] = {**items[0], "mb_trackid": REC_BEETS_WRONG, "isrc": ""}
    _beets_library(beets_db, items, music_dir=root)
    with connect(db_url) as conn:
        import_beets(conn, beets_db, music_dir=root)
    assert _files(db_url)["track01.flac"][:4] == (REC_BEETS_WRONG, ART, None, "Beets Artist")


def test_absolute_paths_of_older_beets_need_no_music_dir(db_url, tmp_path):
    root, items = _library(tmp_path)
    beets_db = _beets_library(tmp_path / "old.db", items)  # beets 1.x: every path absolute
    with connect(db_url) as conn:
        scan_library(conn, root)
        report = import_beets(conn, beets_db)
    assert (report.imported, report.missing_on_disk, report.not_scanned) == (2, 1, 1)


def test_a_file_known_only_to_beets_matches_and_keeps_its_track_when_moved(db_url, tmp_path):
    root, items = _library(tmp_path)
    beets_db = _beets_library(tmp_path / "library.db", items, music_dir=root)
    with connect(db_url) as conn, conn.cursor() as cur:
        listen_history(cur, "alice", [{"artist": "Beets Artist", "title": "Beets Title",
                                       "recording_mbid": REC_UNTAGGED, "count": 2}])
    with connect(db_url) as conn:
        scan_library(conn, root)
        import_beets(conn, beets_db, music_dir=root)
        assert match_files(conn).by_method["mbid"] == 1

    # Renamed by hand: beets still has the old path, so nothing identifies the file but its bytes.
    moved = root / "Sorted" / "Beets Title.flac"
    moved.parent.mkdir()
    (root / "Unknown" / "track01.flac").rename(moved)
    with connect(db_url) as conn:
        scan = scan_library(conn, root)
        report = match_files(conn)
        with conn.cursor() as cur:
            cur.execute("""select m.method, m.path, t.local_path from file_match m join track t using (track_id)
                           where t.mbid = %s""", (REC_UNTAGGED,))
            method, path, local = cur.fetchone()
    assert (scan.removed, scan.hashed) == (1, 1)
    assert (method, path, local) == ("fingerprint", str(moved.resolve()), str(moved.resolve()))
    assert report.unmatched_tracks == 0


def test_what_is_not_a_beets_database_is_refused_and_changes_nothing(db_url, tmp_path):
    root, items = _library(tmp_path)
    with connect(db_url) as conn:
        scan_library(conn, root)
    before = _files(db_url)
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("this is not a database " * 100)
    other_sqlite = tmp_path / "other.db"
    with sqlite3.connect(other_sqlite) as con:
        con.execute("create table tracks (id integer)")
    old_items = tmp_path / "items.db"
    with sqlite3.connect(old_items) as con:
        con.execute("create table items (id integer primary key, path blob, title text)")
    cases = [(tmp_path / "missing.db", FileNotFoundError, "not found"),
             (not_sqlite, ValueError, "is not a beets library"),
             (other_sqlite, ValueError, "has no items table"),
             (old_items, ValueError, "items lacks artist, mb_trackid")]
    for path, error, message in cases:
        with connect(db_url) as conn, pytest.raises(error, match=message):
            import_beets(conn, path, music_dir=root)
    assert _files(db_url) == before
