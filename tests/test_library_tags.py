"""Tags as Picard writes them, read back from real files of every format; chromaprint with and
without fpcalc."""

from __future__ import annotations

import logging
import shutil

import mutagen
import pytest

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.audio_tags import read_tags
from sidetrack_pipeline.sources.isrc import clean_isrc
from sidetrack_pipeline.ingest.library import scan_library
from tests.library_builder import make_audio, tag_like_picard

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")

REC = "5e5d0d6d-4b5a-4a4b-9f7e-2c0e8d1f0a11"
ARTISTS = ["1c70a3fc-fa3c-4be1-8b55-c3192db8a884", "8a5a4c2b-2d8c-4b8e-9f5e-0b1f5e3a7c22"]
REL = "f1418001-7f1e-46af-bfdb-95faeded8841"


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".m4a", ".ogg", ".opus", ".wav", ".aiff"])
def test_picard_tags_are_read_in_every_format(tmp_path, suffix):
    path = make_audio(tmp_path / f"song{suffix}")
    assert read_tags(path).identified is False
    tag_like_picard(path, artist="Röyksopp & Robyn", title="Do It Again", album="Do It Again EP",
                    recording=REC, artist_ids=ARTISTS, release=REL, isrc="gb-aye-06-01498")
    tags = read_tags(path)
    assert (tags.recording_mbid, tags.artist_mbid, tags.release_mbid, tags.isrc) == (REC, ARTISTS[0], REL, "GBAYE0601498")
    assert (tags.artist, tags.title, tags.album) == ("Röyksopp & Robyn", "Do It Again", "Do It Again EP")
    assert tags.readable and tags.identified and tags.duration_s == pytest.approx(4.0, abs=0.1)


def test_the_writer_agrees_with_mutagens_own_picard_mapping(tmp_path):
    # EasyID3/EasyMP4 know Picard's names for the MBIDs: the test files are tagged as Picard tags.
    mp3 = tag_like_picard(make_audio(tmp_path / "a.mp3"), recording=REC, artist_ids=ARTISTS[:1], isrc="GBAYE0601498")
    easy = mutagen.File(mp3, easy=True)
    assert (easy["musicbrainz_trackid"], easy["musicbrainz_artistid"], easy["isrc"]) == ([REC], ARTISTS[:1], ["GBAYE0601498"])
    m4a = tag_like_picard(make_audio(tmp_path / "a.m4a"), recording=REC, release=REL)
    easy = mutagen.File(m4a, easy=True)
    assert (easy["musicbrainz_trackid"], easy["musicbrainz_albumid"]) == ([REC], [REL])


def test_id3v23_joins_artist_ids_with_a_slash_and_the_first_is_the_artist(tmp_path):
    path = tag_like_picard(make_audio(tmp_path / "old.mp3"), artist="A", title="T", artist_ids=ARTISTS, id3_version=3)
    assert mutagen.File(path).tags.version[:2] == (2, 3)
    assert read_tags(path).artist_mbid == ARTISTS[0]


def test_malformed_identifiers_are_dropped_not_stored(tmp_path):
    path = tag_like_picard(make_audio(tmp_path / "bad.flac"), artist="A", title="T",
                           recording="not-a-uuid", isrc="12345")
    tags = read_tags(path)
    assert (tags.recording_mbid, tags.isrc, tags.title) == (None, None, "T")
    assert tags.values["musicbrainz_trackid"] == ["not-a-uuid"]  # kept verbatim in audio_file.tags
    assert [clean_isrc(v) for v in ("USRC17607839", "us-rc1-76-07839", "USRC1760783", None)] == [
        "USRC17607839", "USRC17607839", None, None]


def test_broken_and_foreign_files_are_unreadable_without_raising(tmp_path, caplog):
    cut = tmp_path / "cut.flac"
    cut.write_bytes(make_audio(tmp_path / "whole.flac").read_bytes()[:40])
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all")
    with caplog.at_level(logging.WARNING):
        assert read_tags(cut).readable is False
        assert read_tags(text).readable is False
    assert "cut.flac" in caplog.text and "notes.mp3" in caplog.text


@pytest.mark.skipif(shutil.which("fpcalc") is None, reason="fpcalc not installed (apt-get install libchromaprint-tools)")
def test_scan_stores_a_chromaprint_when_fpcalc_is_installed(db_url, tmp_path):
    library = tmp_path / "library"
    make_audio(library / "a.flac", seconds=6)
    make_audio(library / "b.mp3", seconds=6)
    with connect(db_url) as conn:
        report = scan_library(conn, library)
        with conn.cursor() as cur:
            cur.execute("select chromaprint from audio_file order by path")
            prints = [row[0] for row in cur.fetchall()]
    assert report.fingerprinted == 2
    assert all(p and p.startswith("AQA") for p in prints) and prints[0] != prints[1]


def test_scan_without_fpcalc_works_and_says_so_once(db_url, tmp_path, monkeypatch, caplog):
    library = tmp_path / "library"
    for name in ("a.flac", "b.mp3", "c.ogg"):
        tag_like_picard(make_audio(library / name), artist="A", title=name)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no fpcalc (nor anything else) on PATH
    with caplog.at_level(logging.INFO), connect(db_url) as conn:
        report = scan_library(conn, library)
        with conn.cursor() as cur:
            cur.execute("select count(*), count(chromaprint) from audio_file")
            assert cur.fetchone() == (3, 0)
    assert (report.files, report.hashed, report.fingerprinted) == (3, 3, 0)
    assert sum("fpcalc (chromaprint) is not on PATH" in r.message for r in caplog.records) == 1
