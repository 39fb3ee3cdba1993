"""Which tracks get (re-)analysed: new content, a new analyser version, never a known failure twice."""

from __future__ import annotations

from sidetrack_pipeline.db import connect
from sidetrack_pipeline.scoring import store


def _track(cur, key: str, path: str, digest: str) -> int:
    cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') on conflict (artist_key) "
                "do update set name = artist.name returning artist_id")
    artist = cur.fetchone()[0]
    cur.execute("""insert into track (track_key, name_key, title, artist_id, local_path, fingerprint)
                   values (%s, %s, %s, %s, %s, %s) returning track_id""", (key, key, key, artist, path, digest))
    return cur.fetchone()[0]


def test_version_bump_and_content_change_trigger_reanalysis(db_url):
    features = {"analyzer_version": "mir-1", "bpm": 120.0, "mode": "minor", "extra": {}}
    with connect(db_url) as conn, conn.cursor() as cur:
        done = _track(cur, "done", "/m/done.flac", "h1")
        failed = _track(cur, "failed", "/m/failed.flac", "h2")
        fresh = _track(cur, "fresh", "/m/fresh.flac", "h3")
        store.save_features(cur, done, "h1", features)
        store.save_error(cur, failed, "/m/failed.flac", "h2", "mir-1", "AudioDecodeError: truncated")

        assert [t[0] for t in store.tracks_to_analyze(cur, "mir-1")] == [fresh]
        # a new analyser version re-analyses everything, failures included
        assert [t[0] for t in store.tracks_to_analyze(cur, "mir-2")] == [done, failed, fresh]
        # new bytes in a file (re-encoded, re-tagged) mean a new analysis
        cur.execute("update track set fingerprint = 'h1b' where track_id = %s", (done,))
        cur.execute("update track set fingerprint = 'h2b' where track_id = %s", (failed,))
        assert [t[0] for t in store.tracks_to_analyze(cur, "mir-1")] == [done, failed, fresh]
        # a success clears the file's earlier error
        store.save_features(cur, failed, "h2b", features)
        cur.execute("select count(*) from analysis_error")
        assert cur.fetchone()[0] == 0
