"""The ListenBrainz sync against a fake ListenBrainz server and a real PostgreSQL.

A play's identity in SideTrack is (user, track, second): the fake histories never hold the same
recording twice in one second (ListenBrainz itself keys listens on (listened_at, msid)), and every
fake recording is its own track, so the server's (listened_at, msid) set is exactly what the
database must end up holding.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg2
import pytest

from sidetrack_pipeline.ingest.listenbrainz_sync import (
    CrowdedSecond, SyncAlreadyRunning, sync_listenbrainz)
from sidetrack_pipeline.ingest.listenbrainz_cursor import UnusableCursor
from sidetrack_pipeline.sources.listenbrainz_api import (
    ListenBrainzClient, ListenBrainzUnavailable, RetryPolicy, UserNotFound)
from tests.fake_listenbrainz import FakeListenBrainz, listen_json, make_history, make_recordings

USER = "alice"
START = 1_400_000_000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def server():
    with FakeListenBrainz() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server, sleeps):
    with ListenBrainzClient(server.url, retry=RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05),
                            sleep=sleeps.append, timeout_s=5.0) as lb:
        yield lb


@pytest.fixture
def conn(db_url):
    connection = psycopg2.connect(db_url)
    yield connection
    connection.close()


def db_keys(db_url: str, user: str = USER) -> set[tuple[int, str]]:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("""select extract(epoch from l.played_at)::bigint, l.recording_msid
                       from listen l join users u using (user_id)
                       where u.user_name = %s and l.source = 'listenbrainz'""", (user,))
        rows = cur.fetchall()
    keys = set(rows)
    assert len(keys) == len(rows), "a play is stored twice"
    return keys


def query(db_url: str, sql: str, params=()) -> list[tuple]:
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute(sql, params or None)
        return cur.fetchall()


def runs(db_url: str) -> list[tuple]:
    return query(db_url, """select mode, status, pages, fetched, inserted, duplicates, merged, error
                            from sync_run where source = 'listenbrainz' order by run_id""")


def cursor_of(db_url: str) -> dict | None:
    rows = query(db_url, "select cursor from sync_cursor where source = 'listenbrainz'")
    return rows[0][0] if rows else None


def wait_for(condition, what: str, limit_s: float = 120.0) -> None:
    """Poll a condition (a database state, not a clock) with a generous upper bound."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def assert_counts_add_up(report) -> None:
    assert report.fetched == (report.refetched + len(report.rejected) + report.inserted
                              + report.duplicates + report.merged)


def test_full_history_then_nothing_new_then_only_the_new_listens(db_url, conn, server, client):
    recordings = make_recordings(3000)
    history = make_history(50_000, 5_000, 3000, START, clusters=(700, 300, 150))
    per_second = Counter(ts for ts, _ in history.plays)
    assert sum(n for n in per_second.values() if n > 1) == 5_000
    server.add_user("alice_lb", history.listens(recordings, "alice_lb"))
    committed_pages = []

    full = sync_listenbrainz(conn, USER, client, lb_user="alice_lb",
                             on_page=lambda report: committed_pages.append(report.pages))

    assert db_keys(db_url) == server.keys("alice_lb") and len(server.keys("alice_lb")) == 50_000
    assert (full.mode, full.phase, full.inserted, full.duplicates, full.merged) == (
        "full", "incremental", 50_000, 0, 0)
    assert full.refetched > 0, "no page boundary fell inside a shared second: the test lost its point"
    assert_counts_add_up(full)
    assert committed_pages == sorted(committed_pages) and len(committed_pages) == full.pages
    asked = server.requests_to("/listens")
    assert len(asked) == full.pages and {s.params["count"] for s in asked} == {"1000"}
    assert runs(db_url) == [("full", "ok", full.pages, full.fetched, 50_000, 0, 0, None)]

    again = sync_listenbrainz(conn, USER, client, lb_user="alice_lb")
    assert (again.mode, again.inserted, again.duplicates, again.pages) == ("incremental", 0, 0, 1)
    assert db_keys(db_url) == server.keys("alice_lb")

    newest = max(per_second)
    taken = {r for ts, r in history.plays if ts == newest}
    late = [listen_json(newest, recordings[r], "alice_lb")        # arrived later, same second
            for r in [r for r in range(3000) if r not in taken][:3]]
    fresh = make_history(2_500, 600, 3000, newest, seed=9, clusters=(450,)).listens(recordings, "alice_lb")
    server.add_listens("alice_lb", late + fresh)

    third = sync_listenbrainz(conn, USER, client, lb_user="alice_lb")
    assert (third.mode, third.inserted, third.duplicates) == ("incremental", 2_503, 0)
    assert_counts_add_up(third)
    assert db_keys(db_url) == server.keys("alice_lb") and len(db_keys(db_url)) == 52_503
    assert [r[:2] for r in runs(db_url)] == [("full", "ok"), ("incremental", "ok"), ("incremental", "ok")]


@pytest.mark.parametrize("page_size, total, clusters", [
    (1000, 4_000, (999, 998, 640)),    # seconds almost as big as a page, cut by page ends
    (10, 400, (25, 11, 10, 9)),        # whole pages inside one second: fetched alone
])
def test_seconds_shared_across_page_ends_are_stored_exactly(db_url, conn, server, client,
                                                            page_size, total, clusters):
    recordings = make_recordings(1200)
    history = make_history(total, sum(clusters) + 40, 1200, START, seed=4, clusters=clusters)
    server.add_user(USER, history.listens(recordings, USER))

    report = sync_listenbrainz(conn, USER, client, page_size=page_size)

    assert db_keys(db_url) == server.keys(USER)
    assert (report.inserted, report.duplicates, report.capped_seconds) == (total, 0, [])
    assert report.refetched > 0
    assert_counts_add_up(report)
    single_seconds = [s for s in server.requests_to("/listens")
                      if "min_ts" in s.params and "max_ts" in s.params
                      and int(s.params["max_ts"]) - int(s.params["min_ts"]) == 2]
    assert bool(single_seconds) == (page_size < max(clusters))


def test_a_second_with_1000_or_more_listens_stops_the_sync_loudly(db_url, conn, server, client):
    recordings = make_recordings(1600)
    crowded = START + 5_000
    older = [(START + i, i) for i in range(300)]
    jam = [(crowded, 300 + i) for i in range(1200)]
    newer = [(crowded + 1 + i, 1500 + i) for i in range(100)]
    server.add_user(USER, [listen_json(ts, recordings[r], USER) for ts, r in older + jam + newer])
    newer_keys = {(ts, recordings[r].msid) for ts, r in newer}

    for _ in range(2):  # a rerun fails the same way and loses nothing
        with pytest.raises(CrowdedSecond, match=f"same second {crowded}") as failure:
            sync_listenbrainz(conn, USER, client)
        assert failure.value.second == crowded
        stored = db_keys(db_url)
        assert newer_keys <= stored and all(ts >= crowded for ts, _ in stored)
    assert [(mode, status) for mode, status, *_ in runs(db_url)] == [("full", "failed")] * 2
    assert all("CrowdedSecond" in row[-1] for row in runs(db_url))

    report = sync_listenbrainz(conn, USER, client, allow_capped_seconds=True)
    stored = db_keys(db_url)
    assert report.capped_seconds == [crowded]
    assert_counts_add_up(report)
    assert {k for k in stored if k[0] != crowded} == {k for k in server.keys(USER) if k[0] != crowded}
    jam_stored = {k for k in stored if k[0] == crowded}
    assert 1000 <= len(jam_stored) <= 1200 and jam_stored <= server.keys(USER)


def test_a_failed_sync_keeps_its_pages_and_the_next_one_resumes(db_url, conn, server, client):
    recordings = make_recordings(500)
    history = make_history(3_000, 900, 500, START, seed=5, clusters=(300,))
    server.add_user(USER, history.listens(recordings, USER))
    server.inject("503", times=1_000, after=2)

    with pytest.raises(ListenBrainzUnavailable, match="gave up after 4 attempts"):
        sync_listenbrainz(conn, USER, client)
    [(mode, status, pages, fetched, inserted, duplicates, merged, error)] = runs(db_url)
    assert (mode, status, pages) == ("full", "failed", 2) and "HTTP 503" in error
    assert inserted == len(db_keys(db_url)) and 1000 < inserted < 3000
    assert db_keys(db_url) <= server.keys(USER)
    assert cursor_of(db_url)["phase"] == "backfill"

    server.clear_faults()
    resumed = sync_listenbrainz(conn, USER, client)
    assert db_keys(db_url) == server.keys(USER)
    assert resumed.mode == "full" and resumed.duplicates == 0  # nothing fetched twice was written twice
    assert resumed.inserted + inserted == 3_000
    assert_counts_add_up(resumed)


def test_transient_faults_in_the_middle_do_not_change_the_result(db_url, conn, server, sleeps):
    recordings = make_recordings(800)
    history = make_history(6_000, 1_000, 800, START, seed=6, clusters=(400,))
    server.add_user(USER, history.listens(recordings, USER))
    for i, kind in enumerate(["short", "429", "503", "truncated", "cut", "slow"]):
        server.inject(kind, after=2 * i + 1)  # one of each, every other request from the 2nd on
    with ListenBrainzClient(server.url, retry=RetryPolicy(attempts=3, backoff_s=0.01),
                            sleep=sleeps.append, timeout_s=1.0) as lb:
        report = sync_listenbrainz(conn, USER, lb)
    assert db_keys(db_url) == server.keys(USER)
    assert [f.times for f in server.faults] == [0] * 6, "not every fault was met"
    assert report.inserted == 6_000 and report.duplicates == 0
    assert_counts_add_up(report)
    assert any(6.5 <= s <= 7.02 for s in sleeps), "the 429's Reset-In was not waited for"
    assert Counter(s.status for s in server.requests_to("/listens"))[429] == 1


def test_unknown_user_fails_clearly_and_is_recorded(db_url, conn, server, client):
    with pytest.raises(UserNotFound, match="Cannot find user: nobody"):
        sync_listenbrainz(conn, USER, client, lb_user="nobody")
    assert len(server.requests_to("/listens")) == 1
    [(mode, status, *_, error)] = runs(db_url)
    assert status == "failed" and "UserNotFound" in error
    assert db_keys(db_url) == set()


def test_a_listen_that_cannot_be_parsed_is_reported_and_the_rest_stored(db_url, conn, server, client):
    recordings = make_recordings(30)
    listens = [listen_json(START + i // 2, recordings[i], USER) for i in range(30)]  # 2 per second
    listens[19]["track_metadata"]["track_name"] = " "
    server.add_user(USER, listens)
    report = sync_listenbrainz(conn, USER, client, page_size=10)
    assert [(r.listened_at, r.recording_msid, r.reason) for r in report.rejected] == [
        (START + 9, recordings[19].msid, "missing track_name")]
    assert db_keys(db_url) == server.keys(USER) - {(START + 9, recordings[19].msid)}
    assert report.inserted == 29 and report.refetched > 0
    assert_counts_add_up(report)


def test_an_empty_account_then_its_first_listens(db_url, conn, server, client):
    server.add_user(USER, [])
    empty = sync_listenbrainz(conn, USER, client)
    assert (empty.mode, empty.pages, empty.inserted) == ("full", 1, 0) and cursor_of(db_url) is None
    recordings = make_recordings(5)
    server.add_listens(USER, [listen_json(START + i, recordings[i], USER) for i in range(5)])
    first = sync_listenbrainz(conn, USER, client)
    assert (first.mode, first.inserted) == ("full", 5) and db_keys(db_url) == server.keys(USER)
    assert cursor_of(db_url)["phase"] == "incremental"


def test_account_from_user_settings_and_a_full_resync_finds_backdated_listens(db_url, conn, server,
                                                                              client):
    recordings = make_recordings(50)
    server.add_user("rob_lb", [listen_json(START + i, recordings[i], "rob_lb") for i in range(50)])
    with conn, conn.cursor() as cur:
        cur.execute("insert into users (user_name) values ('rob') returning user_id")
        cur.execute("insert into user_settings (user_id, listenbrainz_user) values (%s, 'rob_lb')",
                    (cur.fetchone()[0],))
    report = sync_listenbrainz(conn, "rob", client)
    assert report.lb_user == "rob_lb" and db_keys(db_url, "rob") == server.keys("rob_lb")

    # Old history imported into ListenBrainz later: only a full resync looks back for it.
    backdated = [listen_json(START - 1000 + i, recordings[i], "rob_lb") for i in range(5)]
    server.add_listens("rob_lb", backdated)
    assert sync_listenbrainz(conn, "rob", client).inserted == 0
    resync = sync_listenbrainz(conn, "rob", client, full_resync=True)
    assert (resync.mode, resync.inserted, resync.duplicates) == ("full", 5, 50)
    assert db_keys(db_url, "rob") == server.keys("rob_lb")


def test_two_syncs_of_one_user_cannot_run_at_once(db_url, conn, server, client):
    recordings = make_recordings(100)
    server.add_user(USER, [listen_json(START + i, recordings[i], USER) for i in range(100)])
    refused = []

    def second_sync(_report):
        other = psycopg2.connect(db_url)
        try:
            with pytest.raises(SyncAlreadyRunning):
                sync_listenbrainz(other, USER, client)
        finally:
            other.close()
        refused.append(True)

    sync_listenbrainz(conn, USER, client, page_size=40, on_page=second_sync)
    assert refused and db_keys(db_url) == server.keys(USER)
    assert [status for _, status, *_ in runs(db_url)] == ["ok"]  # the refused one left no run


def test_an_unusable_cursor_is_a_clear_error(db_url, conn, server, client):
    server.add_user(USER, [])
    with conn, conn.cursor() as cur:
        cur.execute("insert into users (user_name) values (%s) returning user_id", (USER,))
        cur.execute("""insert into sync_cursor (user_id, source, cursor)
                       values (%s, 'listenbrainz', '{"version": 1, "phase": "sideways"}')""",
                    (cur.fetchone()[0],))
    with pytest.raises(UnusableCursor, match="cursor is unusable"):
        sync_listenbrainz(conn, USER, client)


CHILD = """
import sys, psycopg2
from sidetrack_pipeline.ingest.listenbrainz_sync import sync_listenbrainz
from sidetrack_pipeline.sources.listenbrainz_api import ListenBrainzClient
db_url, base_url, user = sys.argv[1:4]
with ListenBrainzClient(base_url) as client:
    sync_listenbrainz(psycopg2.connect(db_url), user, client)
"""


def _start_child(db_url: str, server: FakeListenBrainz) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, db_url, server.url, USER], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _alive(child: subprocess.Popen) -> bool:
    if child.poll() is not None:
        raise AssertionError(f"the sync ended on its own: {child.stdout.read().decode()[-2000:]}")
    return True


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()


def _no_advisory_locks(db_url: str) -> bool:
    return not query(db_url, """select 1 from pg_locks where locktype = 'advisory' and database =
                                    (select oid from pg_database where datname = current_database())""")


def test_kill_9_between_pages_and_inside_a_page_then_resume_is_exact(db_url, conn, server, client):
    recordings = make_recordings(1500)
    history = make_history(12_000, 2_000, 1500, START, seed=7, clusters=(600, 250))
    server.add_user(USER, history.listens(recordings, USER))

    # 1. Killed while waiting for its 4th page, three pages committed.
    server.hold_listens_after(3)
    child = _start_child(db_url, server)
    committed_pages = "select coalesce(max(pages), 0) from sync_run"
    wait_for(lambda: _alive(child) and query(db_url, committed_pages)[0][0] >= 3, "three committed pages")
    _kill(child)
    server.release()
    after_first = db_keys(db_url)
    assert 2_000 < len(after_first) < 12_000 and after_first <= server.keys(USER)
    wait_for(lambda: _no_advisory_locks(db_url), "the killed sync's session to end")

    # 2. Killed inside a page's transaction, twice: blocked (by a lock this test holds) once on
    #    the cursor update after the page's listens are written, once on the listens themselves.
    waiting = ("select pid from pg_stat_activity where wait_event_type = 'Lock' "
               "and datname = current_database()")
    for table in ("sync_cursor", "listen"):
        blocker = psycopg2.connect(db_url)
        with blocker.cursor() as cur:
            cur.execute(f"lock table {table} in share mode")
        child = _start_child(db_url, server)
        wait_for(lambda: _alive(child) and query(db_url, waiting), f"the sync to block on {table}")
        _kill(child)
        blocker.rollback()
        blocker.close()
        wait_for(lambda: _no_advisory_locks(db_url) and not query(db_url, waiting),
                 "the killed sync's session to end")
        assert db_keys(db_url) == after_first  # the half-written page was rolled back whole

    # 3. Resumed: exactly the server's listens, none of them written twice.
    resumed = sync_listenbrainz(conn, USER, client)
    assert db_keys(db_url) == server.keys(USER)
    assert resumed.inserted == 12_000 - len(after_first) and resumed.duplicates == 0
    assert_counts_add_up(resumed)
    assert [(status, (error or "")[:11]) for _, status, *_, error in runs(db_url)] == [
        ("failed", "interrupted")] * 3 + [("ok", "")]
