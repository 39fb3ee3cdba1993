"""Soak: 500 ticks of the real `sync_listens_schedule` against a fake ListenBrainz that keeps adding
listens and sometimes fails; at the end the database holds exactly the listens that were served.

What is real here: the code location's own schedule, sensor, job, assets (with their Dagster
step retry policy) and resources (`sidetrack_pipeline.defs`; the ListenBrainz resource configured
with the fake's URL and a 1 s HTTP timeout, its retry settings left at their defaults), one Dagster
instance (in memory) that records every run, the PostgreSQL database, HTTP to a local server that
speaks the ListenBrainz API (tests/fake_listenbrainz.py), the production client (6 attempts per
request, jittered exponential back-off, rate-limit waits). Each tick is evaluated the way the
daemon does it: `user_partitions_sensor` turns new SideTrack users into `users` partitions, then
the schedule is evaluated at its next cron time and every RunRequest it returns is executed
(`execute_in_process`) as a run of the `sync_listens` job for the request's partition, with the
request's tags: about 940 runs over two users. Nothing is skipped: ~2 min on 2 cores.

Checked: after every successful run the user's stored count equals what the server holds (no
gap, nothing twice; except after a deliberately short page, which the next run completes); every
50 ticks and after every failed run the stored (listened_at, msid) set equals what the fake has
served whole; at the end stored == served == held for both users, the sync_run rows add up
(inserted = listens served, duplicates 0, one failed row per failed step execution, every
failure a ListenBrainzUnavailable), failed runs and step retries really happened, every fault
kind was met, and one more tick inserts nothing.

Time: the client's waits (back-off, `X-RateLimit-Reset-In`) go to a virtual clock (the client's
`sleep`/`clock` defaults, the seam it has for tests), which the fake's rate-limit window also
reads and which jumps to each tick's scheduled time; so a 429 with `Reset-In: 30` costs nothing.
Dagster's step retries wait API_RETRY_DELAY_SECONDS, 0 in the tests (conftest). The only real
waits are the HTTP timeouts of the injected 'slow' answers.

ListenBrainz semantics the traffic follows (/work/shared/reference/apis.md): a listen is unique on
(user, listened_at, recording_msid), several listens can share a second, new listens arrive with
listened_at at or after the newest one already there (including more listens in the newest
second, which arrive late). Listens back-dated before the newest stored second are not part of
the soak: the incremental sync only looks forward and finds those only with a full resync (the
sync's documented contract), so a scheduled tick cannot be asked to find them.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
import psycopg2
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._utils.schedules import cron_string_iterator

from sidetrack_pipeline.defs import defs
from sidetrack_pipeline.defs.assets.sources import listenbrainz_listens
from sidetrack_pipeline.defs.resources import DatabaseResource, LastfmResource, ListenBrainzResource
from sidetrack_pipeline.sources.listenbrainz_api import ListenBrainzClient
from sidetrack_pipeline.users import set_user
from tests.fake_listenbrainz import FakeListenBrainz, listen_json, make_history, make_recordings

TICKS = int(os.environ.get("SIDETRACK_SOAK_TICKS", "500"))   # more for a longer soak (>= 100)
SEED = int(os.environ.get("SIDETRACK_SOAK_SEED", "20261130"))
QUIET_TAIL = 10          # the last ticks: no new faults, pending ones cleared (the catch-up window)
BOB_JOINS = 60           # bob becomes a SideTrack user before this tick (alice after tick 0)
BOB_LISTENS = 70         # bob's ListenBrainz account is empty until this tick
FIRST_TICK = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
ATTEMPTS = ListenBrainzResource().retry_attempts        # tries per request (the client's retries)
EXECUTIONS = 1 + listenbrainz_listens.op.retry_policy.max_retries   # step tries per run (Dagster's)


class VirtualClock:
    """Time for the client's waits and the fake's rate-limit window: sleeping advances it."""

    def __init__(self, start: float):
        self._now = start
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self._now += max(0.0, seconds)

    def advance_to(self, when: float) -> None:
        with self._lock:
            self._now = max(self._now, when)


CLOCK = VirtualClock(FIRST_TICK.timestamp())


@pytest.fixture
def virtual_time(monkeypatch):
    """Every ListenBrainzClient made without its own sleep/clock waits on CLOCK."""
    monkeypatch.setitem(ListenBrainzClient.__init__.__kwdefaults__, "sleep", CLOCK.sleep)
    monkeypatch.setitem(ListenBrainzClient.__init__.__kwdefaults__, "clock", CLOCK.now)
    return CLOCK


@dataclass
class Account:
    """One ListenBrainz account on the fake server, and what the soak added to it."""
    lb_user: str
    user: str                                  # the SideTrack user it belongs to
    newest: int | None = None                  # newest listened_at on the server
    at: dict[int, set[int]] = field(default_factory=dict)   # second -> recording indices there
    added: int = 0

    def plays(self, rng: random.Random, seconds: list[int], n_recordings: int) -> list[tuple[int, int]]:
        out = []
        for second in seconds:
            used = self.at.setdefault(second, set())
            free = rng.choice([r for r in rng.sample(range(n_recordings), 8) if r not in used] or
                              [r for r in range(n_recordings) if r not in used])
            used.add(free)
            out.append((second, free))
        return out


def _new_seconds(rng: random.Random, account: Account, since: int, until: int) -> list[int]:
    """The seconds of this tick's new listens (one entry per listen): random counts, often none,
    sometimes more than a page, crowded seconds, late arrivals in the newest second."""
    roll = rng.random()
    if roll < 0.35:
        return []
    n = rng.randint(1050, 1300) if roll > 0.995 else rng.randint(1, 12)
    lo = max(since, account.newest + 1 if account.newest is not None else since)
    seconds = [rng.randint(lo, until) for _ in range(n)]
    if n > 1000 or rng.random() < 0.15:             # a crowded second
        crowd = rng.randint(lo, until)
        seconds += [crowd] * (rng.randint(200, 450) if n > 1000 else rng.randint(3, 25))
    if account.newest is not None and rng.random() < 0.25:
        seconds += [account.newest] * rng.randint(1, 4)   # arrived late, same second as the newest
    return seconds


FAULT_KINDS = ["503", "429", "truncated", "cut", "500", "short", "slow"]
FAULT_WEIGHTS = [25, 20, 15, 15, 10, 10, 5]


def _inject_fault(rng: random.Random, fake: FakeListenBrainz, account: Account) -> None:
    """A burst of one kind of fault on the account's /listens: most are absorbed by the client's
    retries, some outlast them (the step is retried from its cursor), some outlast the step
    retries as well (an outage: the run fails, a later tick catches up)."""
    kind = rng.choices(FAULT_KINDS, FAULT_WEIGHTS)[0]
    roll = rng.random()
    if kind == "slow":      # each costs a real client timeout: one or two
        times = rng.randint(1, 2)
    elif kind == "short":
        times = rng.randint(1, 3)
    elif roll < 0.45:
        times = rng.randint(1, ATTEMPTS - 1)
    elif roll < 0.7:
        times = rng.randint(ATTEMPTS, 2 * ATTEMPTS)
    else:
        times = rng.randint(ATTEMPTS * EXECUTIONS, ATTEMPTS * EXECUTIONS + 4)
    fake.inject(kind, times=times, path=f"/1/user/{account.lb_user}/listens",
                after=rng.randint(0, 2), reset_in=rng.choice([1, 7, 30]))


def _schedule_context(instance: dg.DagsterInstance, when: dt.datetime, repository,
                      ref_dir: str) -> dg.ScheduleEvaluationContext:
    """The context the daemon evaluates a schedule with, on `instance` itself.

    Dagster opens the instance of a schedule context lazily from an InstanceRef (the daemon
    evaluates schedules in the code server's process), so build_schedule_context accepts only a
    persistent instance. The soak keeps its ~940 runs in one in-memory instance (a SQLite
    DAGSTER_HOME costs ~0.15 s more per run: minutes over 500 ticks), so the context is built
    with a placeholder ref (never opened) and handed that instance: the schedule reads the
    `users` partitions from the instance its runs execute in, as the daemon does."""
    context = dg.build_schedule_context(instance_ref=InstanceRef.from_dir(ref_dir),
                                        scheduled_execution_time=when, repository_def=repository)
    context._instance = instance
    return context


def _db_keys(db_url: str, user: str) -> set[tuple[int, str]]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select extract(epoch from l.played_at)::bigint, l.recording_msid
                       from listen l join users u using (user_id)
                       where u.user_name = %s and l.source = 'listenbrainz'""", (user,))
        rows = cur.fetchall()
    keys = set(rows)
    assert len(keys) == len(rows), f"{user}: a listen is stored twice"
    return keys


def _db_count(conn, user: str) -> int:
    with conn.cursor() as cur:
        cur.execute("""select count(*) from listen l join users u using (user_id)
                       where u.user_name = %s""", (user,))
        return cur.fetchone()[0]


def test_the_listens_schedule_asks_one_run_per_user():
    """The schedule's evaluation as the daemon runs it (ScheduleDefinition.evaluate_tick): one
    RunRequest per `users` partition, each with its own run key."""
    schedule = defs.resolve_schedule_def("sync_listens_schedule")
    with dg.instance_for_test() as instance:
        for users in (["alice"], ["alice", "bob"]):
            instance.add_dynamic_partitions("users", users)
            # As a context manager: the instance it opens from the ref is closed with it, also when
            # the evaluation raises (else Dagster's current defs-state storage outlives it).
            with dg.build_schedule_context(instance=instance, scheduled_execution_time=FIRST_TICK,
                                           repository_def=defs.get_repository_def()) as context:
                data = schedule.evaluate_tick(context)
            assert sorted(r.partition_key for r in data.run_requests) == users
            assert len({r.run_key for r in data.run_requests}) == len(users)


def test_500_scheduled_ticks_against_a_flaky_growing_listenbrainz(db_url, virtual_time, tmp_path):
    assert TICKS >= 100, "the soak's checks assume at least 100 ticks"
    started = time.monotonic()
    rng = random.Random(SEED)
    recordings = make_recordings(800, seed=SEED)
    ticks = cron_string_iterator(FIRST_TICK.timestamp(), defs.resolve_schedule_def(
        "sync_listens_schedule").cron_schedule, "UTC")
    times = [next(ticks) for _ in range(TICKS + 1)]
    assert times[0] == FIRST_TICK and len(set(times)) == TICKS + 1

    alice = Account("alice_lb", "alice")
    bob = Account("bob_lb", "bob")
    history = make_history(3_000, 900, 800, int(FIRST_TICK.timestamp()) - 2_500_000, seed=SEED,
                           clusters=(400, 150))
    CLOCK.advance_to(FIRST_TICK.timestamp())
    # 6 requests per 10 s (the server library's default is 30): the client meets its own
    # Remaining = 0 and the server's 429s from the window, not only the injected ones.
    fake = FakeListenBrainz(clock=CLOCK.now, rate_limit=6, rate_window_s=10).start()
    try:
        fake.add_user(alice.lb_user, history.listens(recordings, alice.lb_user))
        for ts, r in history.plays:
            alice.at.setdefault(ts, set()).add(r)
        alice.newest, alice.added = max(ts for ts, _ in history.plays), len(history.plays)
        fake.add_user(bob.lb_user, [])   # exists on ListenBrainz, empty at first

        database = DatabaseResource(url=db_url)
        soak_defs = dg.Definitions(
            assets=defs.assets, jobs=defs.jobs, schedules=defs.schedules, sensors=defs.sensors,
            resources={**defs.resources, "database": database, "lastfm": LastfmResource(),
                       "listenbrainz": ListenBrainzResource(base_url=fake.url, timeout_s=1.0)})
        schedule = soak_defs.resolve_schedule_def("sync_listens_schedule")
        sensor = soak_defs.resolve_sensor_def("user_partitions_sensor")
        job = soak_defs.resolve_job_def("sync_listens")
        repository = soak_defs.get_repository_def()
        stats = Counter()
        failed_ticks: set[int] = set()
        run_keys: set[str] = set()
        check = psycopg2.connect(db_url)
        check.autocommit = True

        with dg.DagsterInstance.ephemeral() as instance:
            def tick(number: int, when: dt.datetime) -> list[tuple[dg.RunRequest, dg.ExecuteInProcessResult]]:
                """The daemon's work at one scheduled time: sensor, then schedule, then the runs."""
                CLOCK.advance_to(when.timestamp())
                with dg.build_sensor_context(instance=instance, resources={"database": database}) as context:
                    sensed = sensor.evaluate_tick(context)
                for request in sensed.dynamic_partitions_requests or ():
                    assert isinstance(request, dg.AddDynamicPartitionsRequest)
                    instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
                with _schedule_context(instance, when, repository, str(tmp_path)) as context:
                    data = schedule.evaluate_tick(context)
                done = []
                for request in data.run_requests or ():
                    assert request.run_key not in run_keys   # the daemon would drop a repeated key
                    run_keys.add(request.run_key)
                    account = alice if request.partition_key == "alice" else bob
                    faults_before = len(fake.fault_log)
                    result = job.execute_in_process(
                        instance=instance, partition_key=request.partition_key, raise_on_error=False,
                        tags={**request.tags, "dagster/schedule_name": schedule.name,
                              "dagster/run_key": request.run_key})
                    stats["runs"] += 1
                    stats["step retries"] += sum(
                        1 for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY)
                    met = [kind for kind, path in fake.fault_log[faults_before:]
                           if f"/{account.lb_user}/" in path]
                    stats.update(f"fault {kind}" for kind in met)
                    stored = _db_count(check, account.user)
                    if not result.success:
                        stats["runs failed"] += 1
                        failed_ticks.add(number)
                        assert stored <= account.added
                    elif "short" not in met:
                        # a successful run reads up to the server's newest listen: no gap, none twice
                        assert stored == account.added, (number, account.user, stored, account.added)
                    if number % 50 == 0 or not result.success:
                        assert _db_keys(db_url, account.user) == fake.served(account.lb_user), number
                    done.append((request, result))
                return done

            # Tick 0: no SideTrack user yet, the schedule skips.
            assert tick(0, times[0]) == []
            with psycopg2.connect(db_url) as conn:
                set_user(conn, "alice", listenbrainz_user=alice.lb_user)

            for number in range(1, TICKS):
                previous, now = int(times[number - 1].timestamp()), int(times[number].timestamp())
                if number == BOB_JOINS:
                    with psycopg2.connect(db_url) as conn:
                        set_user(conn, "bob", listenbrainz_user=bob.lb_user)
                quiet = number >= TICKS - QUIET_TAIL
                if number == TICKS - QUIET_TAIL:
                    fake.clear_faults()
                for account in (alice, bob):
                    if account is bob and number < BOB_LISTENS:
                        continue
                    seconds = _new_seconds(rng, account, previous + 1, now)
                    if seconds and number < TICKS - 3:   # the last ticks bring nothing new
                        plays = account.plays(rng, seconds, len(recordings))
                        fake.add_listens(account.lb_user,
                                         [listen_json(ts, recordings[r], account.lb_user) for ts, r in plays])
                        account.newest = max([account.newest or 0, *seconds])
                        account.added += len(plays)
                    registered = account is alice or number >= BOB_JOINS
                    if not quiet and registered and rng.random() < 0.12:
                        _inject_fault(rng, fake, account)
                done = tick(number, times[number])
                assert sorted(request.partition_key for request, _ in done) == (
                    ["alice"] if number < BOB_JOINS else ["alice", "bob"])

            # The tick after the last one: both runs succeed and insert nothing.
            before = {a.user: _db_count(check, a.user) for a in (alice, bob)}
            done = tick(TICKS, times[TICKS])
            assert len(done) == 2 and all(result.success for _, result in done)
            for _, result in done:
                (event,) = result.asset_materializations_for_node("listenbrainz_listens")
                assert event.metadata["inserted"].value == 0 and event.metadata["duplicates"].value == 0
            assert {a.user: _db_count(check, a.user) for a in (alice, bob)} == before

            runs = instance.get_runs()
            statuses = Counter(run.status for run in runs)

        check.close()
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            cur.execute("""select status, count(*), sum(inserted), sum(duplicates), sum(merged)
                           from sync_run where source = 'listenbrainz' group by status""")
            sync_runs = {row[0]: row[1:] for row in cur.fetchall()}
            cur.execute("""select error from sync_run where source = 'listenbrainz'
                           and status = 'failed'""")
            errors = [row[0] for row in cur.fetchall()]

        for account in (alice, bob):
            stored = _db_keys(db_url, account.user)
            assert stored == fake.served(account.lb_user) == fake.keys(account.lb_user), account.user
            assert len(stored) == account.added
        total = alice.added + bob.added
        summary = (f"{TICKS} ticks (+1 check), {stats['runs']} runs, {stats['runs failed']} failed "
                   f"after {EXECUTIONS} step tries, {stats['step retries']} step retries, "
                   f"in {len(failed_ticks)} ticks, {total} listens served "
                   f"(alice {alice.added}, bob {bob.added}); faults met: "
                   + ", ".join(f"{k[6:]} {v}" for k, v in sorted(stats.items()) if k.startswith("fault "))
                   + f"; virtual waits {len(CLOCK.waits)} ({sum(CLOCK.waits):.0f} s); "
                   f"{time.monotonic() - started:.1f} s")
        print(summary)

        # Dagster saw every run, and the failures really happened (and were only the injected kind).
        assert statuses[dg.DagsterRunStatus.SUCCESS] + statuses[dg.DagsterRunStatus.FAILURE] == len(runs)
        assert len(runs) == stats["runs"]   # every run of every tick, the check included
        assert statuses[dg.DagsterRunStatus.FAILURE] == stats["runs failed"] >= 5, summary
        assert len(failed_ticks) >= 5, summary
        assert errors and all(e.startswith("ListenBrainzUnavailable") for e in errors), errors[:3]
        # one failed sync_run per failed step execution: each retry's, and each failed run's last
        assert sync_runs["failed"][0] == stats["step retries"] + stats["runs failed"]
        assert stats["step retries"] >= 5, summary
        inserted = sum(v[1] or 0 for v in sync_runs.values())
        duplicates = sum(v[2] or 0 for v in sync_runs.values())
        assert inserted == total, "the runs' own counts disagree with the table"
        assert duplicates == 0, "a listen was fetched again and written again"
        for kind in ("503", "429", "truncated", "cut", "500", "short", "slow"):
            assert stats[f"fault {kind}"] > 0, f"no {kind} fault was met: {summary}"
    finally:
        fake.stop()
