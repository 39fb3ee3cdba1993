"""Matching listened tracks to a real tagged library: by recording MBID, ISRC, fuzzy artist +
title with a duration check, and the match-rate report. Idempotent; changed and deleted files."""

from __future__ import annotations

import shutil

import pytest

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.ingest.file_matching import LibraryFile, ListenedTrack, assign_files
from sidetrack_pipeline.ingest.library import match_files, match_report, scan_library
from sidetrack_pipeline.ingest.match_report import MissingTrack
from sidetrack_pipeline.ingest.name_matching import compare, parse_names
from tests.library_builder import listen_history, make_audio, tag_like_picard

ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")

REC_RESOLVE = "30d08f4c-d825-4ae1-b79c-44242cddd7c0"
REC_ONE_MORE = "11111111-1111-4111-8111-111111111111"
REC_AROUND = "22222222-2222-4222-8222-222222222222"
REC_TWICE = "33333333-3333-4333-8333-333333333333"
REC_UNHEARD = "44444444-4444-4444-8444-444444444444"
ISRC_AVRIL, ISRC_ARCHANGEL = "GBAYE0601498", "USRC17607839"


# ---- names alone: what counts as the same recording, and what must not -------------------

def _verdict(track, file, track_s=None, file_s=None):
    return compare(parse_names(*track), parse_names(*file), track_s, file_s)


@pytest.mark.parametrize("track, file, durations", [
    (("Röyksopp feat. Robyn", "Do It Again"), ("Röyksopp", "Do It Again (feat. Robyn)"), (None, None)),
    (("Röyksopp", "Do It Again [ft. Robyn]"), ("Röyksopp featuring Robyn", "Do It Again"), (None, None)),
    (("Eric Prydz", "Opus"), ("Eric Prydz", "Opus (Original Mix)"), (None, None)),
    (("QUEEN", "don't stop me now"), ("Queen", "Don’t Stop Me Now!"), (None, None)),
    (("The Chemical Brothers", "Galvanize"), ("Chemical Brothers", "Galvanize"), (None, None)),
    (("Simon & Garfunkel", "The Boxer"), ("Simon and Garfunkel", "The Boxer"), (None, None)),
    (("Massive Attack", "Teardrop"), ("Massive Attack", "Tear Drop - 2006 Remastered Version"), (330, 331)),
    (("Boards of Canada", "Aquarius"), ("Boards of Canada", "Aquarious"), (None, None)),        # misspelt tag
    (("deadmau5", "Strobe"), ("deadmau5", "Strobe (Radio Edit)"), (213, 214)),                 # duration says: same edit
    (("deadmau5", "Strobe - Radio Edit"), ("deadmau5", "Strobe (Radio Edit)"), (None, None)),
    (("Bicep", "Glue"), ("Bicep", "Glue"), (269, 273)),                                         # within 5 s
    (("Bicep", "Glue"), ("Bicep", "Glue"), (600, 628)),                                         # within 5 %
])
def test_these_name_the_same_recording(track, file, durations):
    assert _verdict(track, file, *durations).score is not None


@pytest.mark.parametrize("track, file, durations, reason", [
    (("deadmau5", "Strobe"), ("deadmau5", "Strobe"), (210, 420), "duration"),          # radio edit vs 7:00 mix
    (("deadmau5", "Strobe (Radio Edit)"), ("deadmau5", "Strobe (Extended Mix)"), (None, None), "version"),
    (("deadmau5", "Strobe"), ("deadmau5", "Strobe (Extended Mix)"), (None, None), "version"),   # could be any edit
    (("Bicep", "Glue"), ("Bicep", "Glue (Extended Mix)"), (270, 420), "duration"),
    (("Bicep", "Glue (Hammer Remix)"), ("Bicep", "Glue (Special Request Remix)"), (300, 300), "version"),
    (("Queen", "Don't Stop Me Now"), ("Queen", "Don't Stop Me Now - Live at Wembley '86"), (None, None), "version"),
    (("Bicep", "Glue"), ("Bicep", "Glue"), (200, 212), "duration"),                       # 12 s > max(5 s, 5 %)
    (("Boards of Canada", "Roygbiv"), ("Boards of Canada", "Dayvan Cowboy"), (None, None), "names"),
    (("Röyksopp", "Do It Again"), ("Röyksopp & Robyn", "Do It Again"), (None, None), "names"),
    (("Orbital", "Halcyon"), ("Orbitel", "Halcyon"), (None, None), "names"),             # too short to guess
])
def test_these_must_not_match(track, file, durations, reason):
    verdict = _verdict(track, file, *durations)
    assert (verdict.score, verdict.reason) == (None, reason)


def test_ties_are_decided_by_path_and_reported():
    track = ListenedTrack(1, "A", "T", mbid=REC_TWICE, duration_s=200.0)
    files = [LibraryFile("/m/b.flac", "h2", 200.2, REC_TWICE), LibraryFile("/m/a.flac", "h1", 199.9, REC_TWICE)]
    result = assign_files([track], files)
    assert [(m.path, m.method) for m in result.matches] == [("/m/a.flac", "mbid")]
    assert len(result.ambiguous) == 1 and "/m/b.flac" in result.ambiguous[0]
    # A clearly nearer duration is not a tie.
    files[0] = LibraryFile("/m/b.flac", "h2", 240.0, REC_TWICE)
    result = assign_files([track], files)
    assert [m.path for m in result.matches] == ["/m/a.flac"] and result.ambiguous == []


# ---- a real library and listen history --------------------------------------------------

PLAYS = [
    {"artist": "Röyksopp", "title": "Some Resolve", "recording_mbid": REC_RESOLVE, "count": 3},
    {"artist": "Daft Punk", "title": "One More Time", "recording_mbid": REC_ONE_MORE, "count": 2},
    {"artist": "Daft Punk", "title": "Around the World", "recording_mbid": REC_AROUND},
    {"artist": "Aphex Twin", "title": "Avril 14th", "count": 2},
    {"artist": "Burial", "title": "Archangel"},
    {"artist": "Röyksopp feat. Robyn", "title": "Do It Again", "count": 2},
    {"artist": "Eric Prydz", "title": "Opus", "duration_ms": 4000},
    {"artist": "QUEEN", "title": "don't stop me now"},
    {"artist": "Boards of Canada", "title": "Aquarius"},
    {"artist": "deadmau5", "title": "Strobe", "duration_ms": 213_000, "count": 4},
    {"artist": "Bicep", "title": "Glue", "duration_ms": 270_000, "count": 4},
    {"artist": "Caribou", "title": "Sun", "count": 5},                           # no file at all
    {"artist": "Moderat", "title": "A New Error", "recording_mbid": REC_TWICE},
]


def _build_library(root):
    def tagged(name, seconds=4.0, **tags):
        return tag_like_picard(make_audio(root / name, seconds), **tags)

    tagged("Röyksopp/Some Resolve.flac", artist="Röyksopp", title="Some Resolve", recording=REC_RESOLVE,
           album="Profound Mysteries II", isrc="NOB1P2200101")
    tagged("Daft Punk/One More Time.mp3", artist="Daft Punk", title="One More Time", recording=REC_ONE_MORE)
    tagged("Daft Punk/Around the World.m4a", artist="Daft Punk", title="Around the World", recording=REC_AROUND)
    tagged("isrc-only/01.ogg", isrc=ISRC_AVRIL)                      # no names: only the ISRC says who
    tagged("isrc-only/02.m4a", isrc=ISRC_ARCHANGEL)
    tagged("Röyksopp/Do It Again.opus", artist="Röyksopp", title="Do It Again (feat. Robyn)")
    tagged("Eric Prydz/Opus.mp3", artist="Eric Prydz", title="Opus (Original Mix)")
    tagged("Queen/Don't Stop Me Now.flac", artist="Queen", title="Don’t Stop Me Now!")
    tagged("Boards of Canada/Aquarious.wav", artist="Boards of Canada", title="Aquarious")
    tagged("deadmau5/Strobe (Radio Edit).flac", 214, artist="deadmau5", title="Strobe (Radio Edit)")
    tagged("deadmau5/Strobe.flac", 420, artist="deadmau5", title="Strobe")            # the 7:00 mix
    tagged("Bicep/Glue (Extended Mix).flac", 420, artist="Bicep", title="Glue (Extended Mix)")
    tagged("Moderat/a/A New Error.flac", artist="Moderat", title="A New Error", recording=REC_TWICE)
    tagged("Moderat/b/A New Error.flac", artist="Moderat", title="A New Error", recording=REC_TWICE)
    tagged("Unheard/B-Side.flac", artist="Nobody", title="B-Side", recording=REC_UNHEARD)
    make_audio(root / "untagged/track01.mp3")
    make_audio(root / "untagged/track02.flac")


EXPECTED = {  # listened track -> (file, method)
    ("Röyksopp", "Some Resolve"): ("Röyksopp/Some Resolve.flac", "mbid"),
    ("Daft Punk", "One More Time"): ("Daft Punk/One More Time.mp3", "mbid"),
    ("Daft Punk", "Around the World"): ("Daft Punk/Around the World.m4a", "mbid"),
    ("Aphex Twin", "Avril 14th"): ("isrc-only/01.ogg", "isrc"),
    ("Burial", "Archangel"): ("isrc-only/02.m4a", "isrc"),
    ("Röyksopp feat. Robyn", "Do It Again"): ("Röyksopp/Do It Again.opus", "fuzzy"),
    ("Eric Prydz", "Opus"): ("Eric Prydz/Opus.mp3", "fuzzy"),
    ("QUEEN", "don't stop me now"): ("Queen/Don't Stop Me Now.flac", "fuzzy"),
    ("Boards of Canada", "Aquarius"): ("Boards of Canada/Aquarious.wav", "fuzzy"),
    ("deadmau5", "Strobe"): ("deadmau5/Strobe (Radio Edit).flac", "fuzzy"),
    ("Moderat", "A New Error"): ("Moderat/a/A New Error.flac", "mbid"),
}


def _resolve_isrcs(cur):
    # The MusicBrainz resolver stores a recording's ISRCs on its track like this.
    cur.execute("update track set isrcs = %s where title = 'Avril 14th'", (["GBAYE0601497", ISRC_AVRIL],))
    cur.execute("update track set isrcs = %s where title = 'Archangel'", ([ISRC_ARCHANGEL],))


def _matches(conn, root):
    with conn.cursor() as cur:
        cur.execute("""select a.name, t.title, m.path, m.method, t.local_path, t.fingerprint, f.content_hash
                       from file_match m join track t using (track_id) join artist a using (artist_id)
                       join audio_file f on f.path = m.path
                       where exists (select 1 from listen l where l.track_id = t.track_id)""")
        rows = cur.fetchall()
    # track.local_path / fingerprint (what the analysis reads) agree with file_match.
    assert all(local == path and digest == content for _, _, path, _, local, digest, content in rows)
    prefix = str(root.resolve()) + "/"
    return {(artist, title): (path.removeprefix(prefix), method) for artist, title, path, method, *_ in rows}


def _snapshot(conn):
    with conn.cursor() as cur:
        cur.execute("select track_id, path, method, score, matched_at from file_match order by 1")
        matches = cur.fetchall()
        cur.execute("select track_id, track_key, local_path, fingerprint, updated_at from track order by 1")
        tracks = cur.fetchall()
        cur.execute("select path, content_hash, mtime, scanned_at, tags, beets_fields from audio_file order by 1")
        return matches, tracks, cur.fetchall()


@ffmpeg
def test_listened_tracks_match_their_files(db_url, tmp_path):
    root = tmp_path / "library"
    _build_library(root)
    with connect(db_url) as conn, conn.cursor() as cur:
        listen_history(cur, "alice", PLAYS)
        _resolve_isrcs(cur)
    with connect(db_url) as conn:
        scan = scan_library(conn, root)
        report = match_files(conn)
    assert (scan.files, scan.hashed, scan.unreadable_tags) == (17, 17, 2)

    with connect(db_url) as conn:
        assert _matches(conn, root) == EXPECTED
    assert report.by_method == {"mbid": 4, "isrc": 2, "fuzzy": 5, "library": 2}
    assert report.unmatched_tracks == 2          # Caribou (no file), Bicep (only the 7:00 extended mix)
    assert report.untagged_files == 2
    assert report.rejected == {"duration": 2}   # Strobe 7:00 and Glue (Extended Mix) 7:00
    assert len(report.ambiguous) == 1 and "Moderat/b/A New Error.flac" in report.ambiguous[0]
    # Files nobody listened to join the catalogue, except the 7:00 "Strobe": it names a listened
    # track that refused it, and the second Moderat copy: a duplicate.
    assert (report.new_tracks, report.unused_files) == (2, 2)
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select t.title, m.method from file_match m join track t using (track_id)
                       where not exists (select 1 from listen l where l.track_id = t.track_id) order by 1""")
        assert cur.fetchall() == [("B-Side", "library"), ("Glue (Extended Mix)", "library")]

    with connect(db_url) as conn:
        rate = match_report(conn, "alice", top=3)
    assert (rate.listened_tracks, rate.tracks_with_file, rate.listens, rate.listens_with_file) == (13, 11, 28, 19)
    assert rate.track_rate == pytest.approx(11 / 13) and rate.listen_rate == pytest.approx(19 / 28)
    assert rate.by_method == {"fuzzy": 5, "isrc": 2, "mbid": 4}
    assert rate.top_missing == [MissingTrack("Caribou", "Sun", 5), MissingTrack("Bicep", "Glue", 4)]

    # Nothing new: scanning and matching again changes nothing at all.
    with connect(db_url) as conn:
        before = _snapshot(conn)
        assert scan_library(conn, root).hashed == 0
        again = match_files(conn)
    with connect(db_url) as conn:
        assert _snapshot(conn) == before
    assert (again.changed, again.new_tracks, again.by_method) == (0, 0, report.by_method)


@ffmpeg
def test_changed_and_deleted_files(db_url, tmp_path):
    root = tmp_path / "library"
    _build_library(root)
    with connect(db_url) as conn, conn.cursor() as cur:
        listen_history(cur, "alice", PLAYS)
        _resolve_isrcs(cur)
    with connect(db_url) as conn:
        scan_library(conn, root)
        match_files(conn)

    # Tagging an untagged file changes its size and mtime: it is re-read and now matches.
    tag_like_picard(root / "untagged/track01.mp3", artist="Caribou", title="Sun")
    (root / "Röyksopp/Some Resolve.flac").unlink()
    with connect(db_url) as conn:
        scan = scan_library(conn, root)
        report = match_files(conn)
    assert (scan.hashed, scan.removed) == (1, 1)
    assert report.changed == 2
    with connect(db_url) as conn:
        matches = _matches(conn, root)
        rate = match_report(conn, top=1)
    assert matches[("Caribou", "Sun")] == ("untagged/track01.mp3", "fuzzy")
    assert ("Röyksopp", "Some Resolve") not in matches
    with connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select local_path, fingerprint from track where mbid = %s", (REC_RESOLVE,))
        assert cur.fetchone() == (None, None)
    assert rate.top_missing == [MissingTrack("Bicep", "Glue", 4)]
    assert (rate.tracks_with_file, rate.listens_with_file) == (11, 19 - 3 + 5)


def test_report_for_an_unknown_user_is_an_error_and_an_empty_history_is_zero(db_url):
    with connect(db_url) as conn:
        with pytest.raises(ValueError, match="unknown user 'nobody'"):
            match_report(conn, "nobody")
        empty = match_report(conn)
    assert (empty.listened_tracks, empty.track_rate, empty.listen_rate, empty.top_missing) == (0, 0.0, 0.0, [])


@ffmpeg
def test_an_unmounted_library_is_an_error_not_an_empty_one(db_url, tmp_path):
    root = tmp_path / "library"
    tag_like_picard(make_audio(root / "a.flac"), artist="A", title="T")
    with connect(db_url) as conn:
        scan_library(conn, root)
        root.rename(tmp_path / "elsewhere")   # the disk is gone: its files must not be forgotten
        with pytest.raises(NotADirectoryError, match="not a folder"):
            scan_library(conn, root)
        with conn.cursor() as cur:
            cur.execute("select count(*) from audio_file")
            assert cur.fetchone()[0] == 1
