"""The data checks behind the asset checks, on a real database put into each bad state: every
check passes on good data and fails, with the right counts, on the state it guards against
(constraints that forbid a state are dropped first, as in a restored old dump)."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from sidetrack_pipeline.health import checks
from sidetrack_pipeline.scoring import axes, vectors
from sidetrack_pipeline.users import set_user
from tests.library_builder import listen_history

V = "test-analyser-1"


@pytest.fixture
def conn(db_url):
    with psycopg2.connect(db_url) as connection:
        with connection.cursor() as cur:
            listen_history(cur, "alice", [{"artist": "A", "title": f"T{i}", "count": 2} for i in range(4)])
        yield connection


def _drop_checks(cur, table: str) -> None:
    cur.execute("""select conname from pg_constraint where conrelid = %s::regclass and contype in ('c', 'u')""",
                (table,))
    for (name,) in cur.fetchall():
        cur.execute(f'alter table {table} drop constraint "{name}"')


def _track_ids(cur) -> list[int]:
    cur.execute("select distinct track_id from listen order by 1")
    return [r[0] for r in cur.fetchall()]


def test_duplicate_listens_exact_and_across_sources(conn):
    assert checks.duplicate_listens(conn).passed
    with conn.cursor() as cur:
        # Last.fm's copy of a ListenBrainz play 20 s later (within the parity window)
        cur.execute("""insert into listen (user_id, track_id, played_at, source)
                       select user_id, track_id, played_at + interval '20 seconds', 'lastfm' from listen
                       order by played_at limit 1""")
        # a play 2 hours later from the other source is a new play, not a copy
        cur.execute("""insert into listen (user_id, track_id, played_at, source)
                       select user_id, track_id, played_at + interval '2 hours', 'lastfm' from listen
                       order by played_at desc limit 1""")
    outcome = checks.duplicate_listens(conn, window_s=60)
    assert not outcome.passed
    assert (outcome.metadata["exact_duplicates"], outcome.metadata["cross_source_duplicates"]) == (0, 1)
    with conn.cursor() as cur:
        _drop_checks(cur, "listen")
        cur.execute("""insert into listen (user_id, track_id, played_at, source)
                       select user_id, track_id, played_at, source from listen
                       where source = 'listenbrainz' order by played_at desc limit 2""")
    outcome = checks.duplicate_listens(conn, window_s=60)
    assert outcome.metadata["exact_duplicates"] == 2 and "2 exact duplicates" in outcome.summary


def test_scores_outside_the_unit_interval(conn):
    with conn.cursor() as cur:
        track = _track_ids(cur)[0]
        cur.execute("insert into mood_scores (track_id, axis, method, value) values (%s, 'energy', 'x', 0.4)",
                    (track,))
        assert checks.scores_in_unit_interval(conn).passed
        _drop_checks(cur, "mood_scores")
        cur.execute("""insert into mood_scores (track_id, axis, method, value, confidence) values
                       (%s, 'valence', 'x', 1.5, 1), (%s, 'tempo', 'x', 'NaN', 1), (%s, 'mode', 'x', 0.5, -0.1)""",
                    (track, track, track))
    outcome = checks.scores_in_unit_interval(conn, ("mood_scores",))
    assert not outcome.passed and outcome.metadata["mood_scores_outside"] == 3
    assert checks.scores_in_unit_interval(conn, ("lexicon_scores",)).passed
    with pytest.raises(ValueError):
        checks.scores_in_unit_interval(conn, ("listen",))


def _features(cur, track: int, version: str = V, digest: str = "h") -> None:
    cur.execute("insert into features (track_id, content_hash, analyzer_version) values (%s, %s, %s)",
                (track, digest, version))


def test_axis_scores_complete(conn):
    with conn.cursor() as cur:
        track = _track_ids(cur)[0]
        _features(cur, track)
        for axis in axes.AXES[:-1]:
            cur.execute("insert into mood_scores (track_id, axis, method, value) values (%s, %s, %s, 0.5)",
                        (track, axis, axes.METHOD))
        outcome = checks.axis_scores_complete(conn)
        assert not outcome.passed and outcome.metadata["tracks_missing_axes"] == 1
        cur.execute("insert into mood_scores (track_id, axis, method, value) values (%s, %s, %s, 0.5)",
                    (track, axes.AXES[-1], axes.METHOD))
    assert checks.axis_scores_complete(conn).passed


def test_analysis_coverage_counts_failures_on_record(conn):
    with conn.cursor() as cur:
        first, second, *_ = _track_ids(cur)
        cur.execute("update track set local_path = '/m/' || track_id || '.flac', fingerprint = 'h' "
                    "where track_id in (%s, %s)", (first, second))
        _features(cur, first)
        outcome = checks.analysis_coverage(conn, V)
        assert not outcome.passed and outcome.metadata["files_missing"] == 1
        assert outcome.metadata["listen_coverage"] == 0.25     # 2 of 8 listens are of the analysed track
        cur.execute("insert into analysis_error (path, track_id, content_hash, analyzer_version, error) "
                    "values ('/m/' || %s || '.flac', %s, 'h', %s, 'corrupt')", (second, second, V))
        outcome = checks.analysis_coverage(conn, V)
        assert outcome.passed and outcome.metadata["failed_files"] == 1
        # a new analyser version makes every file due again
    assert not checks.analysis_coverage(conn, "test-analyser-2").passed


def test_vectors_complete(conn):
    with conn.cursor() as cur:
        track = _track_ids(cur)[0]
        _features(cur, track)
        assert checks.vectors_complete(conn).metadata["missing_vectors"] == 1
        cur.execute("insert into embeddings (track_id, model, dim, embedding) values (%s, %s, %s, %s::vector)",
                    (track, vectors.MODEL, vectors.DIM, str([0.1] * vectors.DIM)))
    assert checks.vectors_complete(conn).passed


def test_listens_fresh_judges_each_user_with_a_source(conn):
    now = dt.datetime(2026, 11, 29, 12, tzinfo=dt.timezone.utc)
    set_user(conn, "alice", listenbrainz_user="alice_lb")
    set_user(conn, "bob", lastfm_user="bob_fm")
    set_user(conn, "carol")                                  # nothing to sync: not judged
    with conn.cursor() as cur:
        for user, finished, state in (("alice", now - dt.timedelta(minutes=30), "ok"),
                                      ("bob", now - dt.timedelta(hours=5), "ok"),
                                      ("bob", now - dt.timedelta(minutes=5), "failed")):
            cur.execute("""insert into sync_run (user_id, source, mode, status, finished_at)
                           select user_id, 'listenbrainz', 'incremental', %s, %s from users where user_name = %s""",
                        (state, finished, user))
    outcome = checks.listens_fresh(conn, dt.timedelta(hours=2), now=now)
    assert not outcome.passed and outcome.metadata == {"users_with_sources": 2, "stale_users": 1,
                                                       "max_age_minutes": 120}
    assert "bob" in outcome.summary and "alice" not in outcome.summary
    assert checks.listens_fresh(conn, dt.timedelta(hours=6), now=now).passed


def test_marts_current_in_the_users_time_zone(conn):
    assert "does not exist" in checks.marts_current(conn).summary
    with conn.cursor() as cur:
        cur.execute("update users set timezone = 'America/New_York'")
        cur.execute("delete from listen where played_at < (select max(played_at) from listen)")
        # Monday 03:00 UTC is still Sunday in New York: the local week began the Monday before
        cur.execute("update listen set played_at = '2026-03-09 03:00+00'")
        cur.execute("create schema if not exists marts")
        cur.execute("create table marts.mart_overview_week (user_id integer, week date)")
        cur.execute("insert into marts.mart_overview_week select user_id, '2026-02-23' from users")
    outcome = checks.marts_current(conn)
    assert not outcome.passed and "2026-03-02" in outcome.summary
    with conn.cursor() as cur:
        cur.execute("insert into marts.mart_overview_week select user_id, '2026-03-02' from users")
    assert checks.marts_current(conn).passed
