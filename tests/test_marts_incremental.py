"""Incremental weekly models: after every kind of change, an incremental `dbt build` leaves the
same tables as a fresh full build; a partition run (week_start / week_end) touches only its weeks.

One database gets a random history (the generator of test_marts_properties: three users in three
time zones, DST weekends, several scoring methods, lexicon scores, vectors) and a full build.
Then, one change at a time, the way the pipeline makes them (listen.track_id rewritten by the real
track merge, duplicate listens deleted, a time-zone change, mood scores recomputed or deleted, a
track's artist corrected, a release's labels changed, a lexicon word re-scored, a new user), an
incremental build runs and its dirty user-weeks are checked, exactly where they follow from the
change (so the incremental build really is incremental: a new day dirties one week per user, an
unchanged re-score dirties nothing). After every group of two or three changes, every weekly and
full-history table is compared with a full build of a copy of the same raw data (in the
background, while the next group runs). The summary marts (mart_vibe_summary, mart_artist_drift,
mart_label_influence) and their weekly models are compared too; the history gets releases and
labels (tests/test_summary_marts.add_labels). The models' checks are constraints of their tables:
a bad row is refused.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from sidetrack_pipeline.db.connection import libpq_params
from sidetrack_pipeline.ingest.musicbrainz_identity import merge_track_into
from tests.test_marts_properties import load, make_history, read, run_dbt
from tests.test_summary_marts import add_labels

# Everything the weekly models feed: the weekly models, their descendants and those's parents.
SELECT = ["--select", "@tag:weekly"]
# Tables compared between the incremental and the fresh build.
TABLES = [
    "marts.mart_mood_week", "marts.mart_mood_shares", "marts.mart_radar", "marts.mart_overview",
    "marts.mart_overview_week", "marts.mart_listens_week", "marts.mart_change_points",
    "intermediate.int_user_week_tracks", "intermediate.int_mood_user_week",
    "intermediate.int_overview_user_week", "intermediate.int_user_week_state",
    "intermediate.int_track_profile",
    # the summary marts and the weekly models under them
    "marts.mart_vibe_summary", "marts.mart_artist_drift", "marts.mart_label_influence",
    "intermediate.int_artist_user_week", "intermediate.int_label_user_week", "intermediate.int_vibe_user_week",
    # bookkeeping the strategies keep in step (mart_overview's distinct tracks)
    "intermediate.int_user_track_weeks",
]
WEEKLY_TABLES = ["marts.mart_mood_shares", "marts.mart_listens_week", "intermediate.int_user_week_tracks",
                 "intermediate.int_mood_user_week", "intermediate.int_overview_user_week",
                 "intermediate.int_user_week_state", "intermediate.int_artist_user_week",
                 "intermediate.int_label_user_week", "intermediate.int_vibe_user_week"]
# Same SQL on the same rows, but the incremental tables hold their rows in another physical order,
# so sums run in another order: floats agree to rounding, not bit for bit. The dispersion is
# pgvector float4 arithmetic (see mart_overview_week), hence its relative tolerance.
ABS_TOL = 1e-12
REL_TOL = {"embedding_dispersion": 1e-6}


def execute(db_url: str, sql: str, params=()) -> None:
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


def scalar(db_url: str, sql: str, params=()):
    """The first value of the first row (committed: the statement may write)."""
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def table_rows(db_url: str, table: str) -> tuple[list[str], list[tuple]]:
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"select * from {table} limit 0")
            columns = [c.name for c in cur.description]
            # vectors compare as text; rows in a canonical order (every column, as text)
            select = ", ".join(f"{c}::text" if c == "embedding" else c for c in columns)
            cur.execute(f"select {select} from {table} order by "
                        + ", ".join(f"{c}::text" for c in columns if c not in REL_TOL and c not in FLOATS))
            return columns, cur.fetchall()
    finally:
        conn.close()


AXES = ("energy", "valence", "danceability", "brightness", "rhythmic_complexity",
        "pumpiness", "texture_density", "stereo_size", "tempo", "mode_confidence")
FLOATS = {"mean_value", "variance", "ema_4w", "momentum", "kalman_level", "kalman_var", "value",
          "baseline_mean", "baseline_std", "z_score", "share", "artist_entropy", "embedding_dispersion",
          "momentum_index", "magnitude", "statistic", "week_listens",
          # summary marts and their weekly models
          "score", "user_mean", "lift", "word_listens", "value_sum", "weighted_listens", "contributor_mean",
          "contribution", "week_mean", "deviation", "others_contribution", "first_period_mean",
          "latest_period_mean", "period_change", "slope_per_week", "slope_se", "fitted_change",
          *(f"{p}_{a}" for p in ("score", "n", "s") for a in AXES)}


def assert_same_tables(got_url: str, expected_url: str, tables=TABLES, weeks: set[date] | None = None) -> None:
    """Same rows in every table (only those of `weeks` when given), floats to rounding."""
    for table in tables:
        got_cols, got = table_rows(got_url, table)
        exp_cols, expected = table_rows(expected_url, table)
        assert got_cols == exp_cols, table
        if weeks is not None:
            wk = got_cols.index("week")
            got = [r for r in got if r[wk] in weeks]
            expected = [r for r in expected if r[wk] in weeks]
        # never a vacuous comparison (change-points are rare at this size; mart_mood_week, their
        # only input, is compared)
        assert got or table == "marts.mart_change_points", table
        assert len(got) == len(expected), (table, len(got), len(expected))
        for g, e in zip(got, expected):
            for col, a, b in zip(got_cols, g, e):
                if col in FLOATS and a is not None and b is not None:
                    allowed = max(ABS_TOL, REL_TOL.get(col, 0.0) * abs(float(b)))
                    assert abs(float(a) - float(b)) <= allowed, (table, col, g, e)
                else:
                    assert a == b, (table, col, g, e)


class Fresh:
    """Full builds of copies of the raw tables, in a database of their own on the same server.

    `dbt run`, not `dbt build`: the reference needs the tables, not the data checks (the builds
    under test make those). The copy always has the same name and its own dbt target folder: dbt
    re-parses the whole project when the database of its profile changes from one run to the
    next in a target folder (~3 s a switch). compare_later() compares in a background thread,
    while the test goes on with its next changes."""

    def __init__(self, admin_uri: str, db_url: str, tmp_path: Path):
        self.admin_uri, self.db_url, self.target = admin_uri, db_url, tmp_path / "fresh"
        self.name = libpq_params(db_url)["dbname"]
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending = None

    def _copy(self, copy: str) -> str:
        conn = psycopg2.connect(self.admin_uri)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{copy}" with (force)')
            cur.execute(f'create database "{copy}" template "{self.name}"')
        conn.close()
        url = self.db_url.replace(f"/{self.name}?", f"/{copy}?", 1)
        assert libpq_params(url)["dbname"] == copy, url
        return url

    def _run(self, url: str) -> str:
        execute(url, "drop schema if exists staging cascade; drop schema if exists intermediate cascade; "
                     "drop schema if exists marts cascade")
        run_dbt(url, self.target, "run", *SELECT)
        return url

    def build(self) -> str:
        """A full build of a copy of the database as it is now; its URL."""
        self.wait()
        return self._run(self._copy(f"{self.name}_fresh"))

    def compare_later(self) -> None:
        """Compare every table as it is now with a full build, in the background (wait() for it)."""
        self.wait()
        snapshot, fresh = self._copy(f"{self.name}_snap"), self._copy(f"{self.name}_fresh")
        self.pending = self.pool.submit(lambda: assert_same_tables(snapshot, self._run(fresh)))

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        """Wait for the last comparison, drop the copies."""
        try:
            self.wait()
        finally:
            self.pool.shutdown()
            conn = psycopg2.connect(self.admin_uri)
            conn.autocommit = True
            with conn.cursor() as cur:
                for copy in ("fresh", "snap"):
                    cur.execute(f'drop database if exists "{self.name}_{copy}" with (force)')
            conn.close()


def assert_checks_enforced(db_url: str) -> None:
    """The models' `checks` (their yml) are constraints of the tables: a null, an out-of-range
    value, a value outside its list and a repeated key are each refused when written (every
    statement rolled back)."""
    refused = [
        (psycopg2.errors.CheckViolation,
         "update marts.mart_mood_week set mean_value = 1.5 where (user_id, week, axis) = "
         "(select user_id, week, axis from marts.mart_mood_week limit 1)"),
        (psycopg2.errors.CheckViolation,
         "update marts.mart_mood_week set axis = 'loudness' where (user_id, week, axis) = "
         "(select user_id, week, axis from marts.mart_mood_week limit 1)"),
        (psycopg2.errors.NotNullViolation,
         "update intermediate.int_mood_user_week set variance = null where (user_id, week, axis) = "
         "(select user_id, week, axis from intermediate.int_mood_user_week limit 1)"),
        (psycopg2.errors.UniqueViolation,
         "insert into marts.mart_label_influence select * from marts.mart_label_influence limit 1"),
        (psycopg2.errors.UniqueViolation,  # '(no label)' rows: label_id null, still one per user-week
         "insert into intermediate.int_label_user_week select * from intermediate.int_label_user_week "
         "where label_id is null limit 1"),
        (psycopg2.errors.CheckViolation,
         "update intermediate.int_artist_drift set weeks_observed = 1 where (user_id, artist_id, axis) = "
         "(select user_id, artist_id, axis from intermediate.int_artist_drift limit 1)"),
    ]
    conn = psycopg2.connect(db_url)
    try:
        for error, sql in refused:
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    written = cur.rowcount
            except error:
                conn.rollback()
                continue
            conn.rollback()
            raise AssertionError(f"not refused ({written} rows): {sql}")
    finally:
        conn.close()


def dirty_weeks(db_url: str) -> set[tuple[int, date]]:
    return set(map(tuple, read(db_url, "select user_id, week from intermediate.int_user_week_changes "
                                       "where dirty").itertuples(index=False)))


def weeks_holding(db_url: str, track_sql: str) -> set[tuple[int, date]]:
    """The user-weeks (local weeks, computed here from `listen` and `users`, not by the models) in
    which a track of `track_sql` (a query returning track ids) was played."""
    return set(map(tuple, read(db_url, f"""
        select distinct listen.user_id, date_trunc('week', listen.played_at at time zone users.timezone)::date as week
        from listen join users using (user_id)
        where listen.track_id in ({track_sql})""").itertuples(index=False)))


def test_incremental_build_equals_full_build_after_each_change(
        db_url: str, pg_admin_uri: str, tmp_path: Path) -> None:
    """Every kind of change, each followed by an incremental build whose dirty user-weeks are
    checked (exactly, where they follow from the change); after every group of two or three
    changes, every table is compared with a fresh full build of the same raw data (a full build
    per change cost ~3 minutes; the dirty sets checked per change keep one change's missed week from
    hiding behind the next change of its group)."""
    raw = load(db_url, make_history(17))
    add_labels(db_url, raw, 17)  # releases and labels, for mart_label_influence
    uids = [int(u) for u in raw["users"].user_id]
    run_dbt(db_url, tmp_path, "build", *SELECT)
    assert read(db_url, "select bool_or(full_rebuild) as f from intermediate.int_user_week_changes").f[0]
    fresh = Fresh(pg_admin_uri, db_url, tmp_path)

    def rebuild() -> set[tuple[int, date]]:
        """An incremental build; its dirty user-weeks."""
        run_dbt(db_url, tmp_path, "build", *SELECT)
        assert not read(db_url, "select bool_or(full_rebuild) as f from intermediate.int_user_week_changes").f[0]
        return dirty_weeks(db_url)

    def compare() -> None:
        fresh.compare_later()

    # 1. Nothing changed: nothing is recomputed, not even in the incremental summary tables.
    summary_keys = [("marts.mart_label_influence", "user_id, week, axis, kind, rank"),
                    ("intermediate.int_artist_drift", "user_id, artist_id, axis")]
    marks = {t: xmin_rows(db_url, t, k) for t, k in summary_keys}
    assert rebuild() == set()
    for t, k in summary_keys:
        assert xmin_rows(db_url, t, k) == marks[t], t

    # A new day of listens (two users), and a late import into an old week of a third.
    last = scalar(db_url, "select max(played_at) from listen")
    day = last + timedelta(days=1)
    tracks = read(db_url, "select track_id from track order by track_id").track_id.tolist()
    before = scalar(db_url, "select max(listen_id) from listen")
    for i, (uid, hour) in enumerate([(uids[0], 9), (uids[0], 20), (uids[1], 12), (uids[1], 13)]):
        execute(db_url, "insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, 'lastfm')",
                (uid, int(tracks[i * 3]), day.replace(hour=hour, minute=i)))
    execute(db_url, "insert into listen (user_id, track_id, played_at, source) "
                    "values (%s, %s, '2024-05-15 12:00+00', 'listenbrainz')", (uids[2], int(tracks[5])))
    new_weeks = set(map(tuple, read(db_url, f"""
        select distinct listen.user_id, date_trunc('week', listen.played_at at time zone users.timezone)::date as w
        from listen join users using (user_id) where listen_id > {before}""").itertuples(index=False)))
    dirty = rebuild()
    assert dirty == new_weeks and len(dirty) == 3 and {u for u, _ in dirty} == set(uids), dirty

    # A duplicate listen deleted.
    victim = scalar(db_url, "select listen_id from listen where user_id = %s order by played_at limit 1 offset 40",
                    (uids[1],))
    victim_week = scalar(db_url, "select date_trunc('week', played_at at time zone timezone)::date "
                                 "from listen join users using (user_id) where listen_id = %s", (victim,))
    execute(db_url, "delete from listen where listen_id = %s", (victim,))
    assert rebuild() == {(uids[1], victim_week)}
    compare()

    # 2. A track merge: the real merge rewrites listen.track_id (and moves or drops scores), deletes src.
    src, dst = int(tracks[1]), int(tracks[2])
    src_weeks = weeks_holding(db_url, str(src))
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        merge_track_into(cur, src, dst)
    conn.close()
    assert scalar(db_url, "select count(*) from track where track_id = %s", (src,)) == 0
    dirty = rebuild()
    assert src_weeks <= dirty and len(dirty) < len(read(db_url, "select 1 from intermediate.int_user_week_state"))
    assert dirty <= src_weeks | weeks_holding(db_url, str(dst))

    # A time-zone change: the current zone applies to the whole history.
    execute(db_url, "update users set timezone = 'America/Los_Angeles' where user_id = %s", (uids[0],))
    dirty = rebuild()
    assert {u for u, _ in dirty} == {uids[0]}
    compare()

    # 3. Mood scores recomputed: one value really changes, a whole method is rewritten unchanged.
    rescored = scalar(db_url, "select track_id from mood_scores where method = 'smoothed-v1' "
                              "order by track_id, axis limit 1")
    execute(db_url, """update mood_scores set value = 1 - value, computed_at = now()
                       where (track_id, axis, method) = (select track_id, axis, method from mood_scores
                                                         where method = 'smoothed-v1' order by 1, 2 limit 1)""")
    execute(db_url, "update mood_scores set computed_at = now() + interval '1 hour' where method = 'fused-v1'")
    dirty = rebuild()
    assert dirty and dirty == weeks_holding(db_url, str(rescored))
    execute(db_url, "update mood_scores set computed_at = now() + interval '2 hours'")
    assert rebuild() == set()  # new computed_at, same values: nothing to do

    # Mood scores deleted: a preferred method's row (another method takes over) and a whole axis.
    gone = scalar(db_url, "select track_id from mood_scores where method = 'smoothed-v1' "
                          "order by track_id desc, axis limit 1")
    execute(db_url, """delete from mood_scores where (track_id, axis, method) =
                       (select track_id, axis, method from mood_scores where method = 'smoothed-v1'
                        order by 1 desc, 2 limit 1)""")
    execute(db_url, "delete from mood_scores where track_id = %s and axis = 'valence'", (int(tracks[4]),))
    dirty = rebuild()
    assert dirty and dirty <= weeks_holding(db_url, f"{gone}, {int(tracks[4])}")
    compare()

    # 4. A lexicon score that changes a track's dominant mood, and a track's artist corrected.
    lexed = scalar(db_url, "select track_id from lexicon_scores where method = 'zeroshot-musicnn-v1' "
                           "order by value limit 1")
    execute(db_url, """update lexicon_scores set value = 1
                       where (track_id, word, method) = (select track_id, word, method from lexicon_scores
                                                         where method = 'zeroshot-musicnn-v1'
                                                         order by value limit 1)""")
    execute(db_url, "update track set artist_id = (select min(a.artist_id) from artist a "
                    "where a.artist_id <> track.artist_id) where track_id = %s", (int(tracks[6]),))
    dirty = rebuild()
    assert dirty and dirty == weeks_holding(db_url, f"{lexed}, {int(tracks[6])}")

    # A label added to a release, a track moved to another release, a release losing its labels.
    execute(db_url, "insert into label (name) values ('Late Label')")
    labelled = scalar(db_url, "select min(release_id) from release_label")
    execute(db_url, """insert into release_label (release_id, label_id)
                       select min(release_id), (select max(label_id) from label) from release_label""")
    execute(db_url, """update track set release_id = (select max(release_id) from release)
                       where track_id = %s""", (int(tracks[7]),))
    dirty = rebuild()
    relabelled = weeks_holding(db_url, f"select track_id from track where release_id = {labelled}")
    assert relabelled and relabelled <= dirty <= relabelled | weeks_holding(db_url, str(int(tracks[7])))
    unlabelled = scalar(db_url, """select min(track.release_id) from track
                                   join release_label using (release_id) join listen using (track_id)""")
    execute(db_url, "delete from release_label where release_id = %s", (unlabelled,))
    dirty = rebuild()
    assert dirty and dirty == weeks_holding(db_url, f"select track_id from track where release_id = {unlabelled}")
    compare()

    # 5. A re-scored lexicon word that does not change the dominant mood (only the vibe sums move).
    word_track = scalar(db_url, "select track_id from lexicon_scores where method = 'zeroshot-musicnn-v1' "
                                "order by value limit 1 offset 3")
    execute(db_url, """update lexicon_scores set value = value / 2
                       where (track_id, word, method) = (select track_id, word, method from lexicon_scores
                                                         where method = 'zeroshot-musicnn-v1'
                                                         order by value limit 1 offset 3)""")
    dirty = rebuild()
    assert dirty and dirty == weeks_holding(db_url, str(word_track))

    # A new user with a few weeks of listens (and one user's name changed).
    tracks = read(db_url, "select track_id from track order by track_id").track_id.tolist()  # src is gone
    new_uid = scalar(db_url, "insert into users (user_name, timezone) values ('newbie', 'Asia/Tokyo') "
                             "returning user_id")
    for k in range(12):
        execute(db_url, "insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, 'lastfm')",
                (new_uid, int(tracks[k % len(tracks)]), day - timedelta(days=3 * k, hours=k)))
    execute(db_url, "update users set user_name = 'renamed' where user_id = %s", (uids[2],))
    dirty = rebuild()
    assert {u for u, _ in dirty} == {new_uid, uids[2]}
    assert read(db_url, "select listens from marts.mart_overview where user_id = %s" % new_uid).listens[0] == 12
    compare()
    assert_checks_enforced(db_url)
    fresh.close()


def test_partition_runs_touch_only_their_weeks(db_url: str, pg_admin_uri: str, tmp_path: Path) -> None:
    load(db_url, make_history(29))
    first = date(2024, 3, 18)  # three weeks around Europe's spring DST switch (Sunday 2024-03-31)...
    second = date(2024, 10, 21)  # ...and the two of the autumn switches (Europe 10-27, New York 11-03)

    def weekly_run(start: date, end: date) -> None:
        run_dbt(db_url, tmp_path, "build", "--select", "tag:weekly",
                "--vars", f"{{week_start: '{start}', week_end: '{end}'}}")

    # An empty database: no dbt relation exists, not even the staging views.
    assert scalar(db_url, "select count(*) from pg_namespace where nspname in ('staging', 'intermediate', 'marts')") == 0
    weekly_run(first, first + timedelta(weeks=3))
    range1 = {first + timedelta(weeks=k) for k in range(3)}
    for table in WEEKLY_TABLES:
        assert set(read(db_url, f"select distinct week from {table}").week) == range1, table
    assert scalar(db_url, "select count(*) from pg_namespace where nspname = 'staging'") == 0

    # Equal, on those weeks, to what a full build computes.
    fresh = Fresh(pg_admin_uri, db_url, tmp_path)
    full = fresh.build()
    assert_same_tables(db_url, full, WEEKLY_TABLES, weeks=range1)

    # A second range leaves the first one's rows untouched (not even rewritten: same xmin).
    def rows_with_xmin(table: str) -> set[tuple]:
        conn = psycopg2.connect(db_url)
        try:
            with conn.cursor() as cur:
                cur.execute(f"select xmin::text, * from {table} where week = any(%s)", (sorted(range1),))
                return set(cur.fetchall())
        finally:
            conn.close()

    before = {table: rows_with_xmin(table) for table in WEEKLY_TABLES}
    # this range through the environment variables instead of --vars (the fallback Dagster can use
    # to spare dbt a full re-parse per partition)
    run_dbt(db_url, tmp_path, "build", "--select", "tag:weekly",
            env={"SIDETRACK_WEEK_START": str(second), "SIDETRACK_WEEK_END": str(second + timedelta(weeks=2))})
    range2 = {second, second + timedelta(weeks=1)}
    for table in WEEKLY_TABLES:
        assert set(read(db_url, f"select distinct week from {table}").week) == range1 | range2, table
        assert rows_with_xmin(table) == before[table], table
    assert_same_tables(db_url, full, WEEKLY_TABLES, weeks=range1 | range2)

    # The vars win over the environment: a range in the vars, another one in the environment.
    third = date(2024, 6, 3)
    run_dbt(db_url, tmp_path, "build", "--select", "tag:weekly",
            "--vars", f"{{week_start: '{third}', week_end: '{third + timedelta(weeks=1)}'}}",
            env={"SIDETRACK_WEEK_START": "2023-01-02", "SIDETRACK_WEEK_END": "2025-01-06"})
    for table in WEEKLY_TABLES:
        assert set(read(db_url, f"select distinct week from {table}").week) == range1 | range2 | {third}, table

    # The run without vars then fills in every other week (the snapshot a range run leaves empty
    # makes every track count as changed) and equals the full build everywhere.
    run_dbt(db_url, tmp_path, "build", *SELECT, env={"SIDETRACK_WEEK_START": "", "SIDETRACK_WEEK_END": ""})
    assert_same_tables(db_url, full)


def xmin_rows(db_url: str, table: str, key: str) -> dict[tuple, str]:
    """(key columns) -> xmin of every row of `table` (rows rewritten by a build get a new xmin)."""
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"select xmin::text, {key} from {table}")
            return {tuple(r[1:]): r[0] for r in cur.fetchall()}
    finally:
        conn.close()


def test_range_runs_then_exclude_run_equals_full_build(db_url: str, pg_admin_uri: str, tmp_path: Path) -> None:
    """The Dagster order: several weekly range runs (`--select tag:weekly` with a week range), then
    one `--exclude tag:weekly` run: the incremental summary tables (mart_label_influence,
    int_artist_drift under mart_artist_drift) pick up what every range run rebuilt (through the
    rebuild log, the artist pair log and their own marks), including a user-week that vanished, and equal a fresh full build; rows that depend on
    no rebuilt user-week are not rewritten. Then `--full-refresh`, and an incremental run after it."""
    raw = load(db_url, make_history(23))
    add_labels(db_url, raw, 23)
    uids = [int(u) for u in raw["users"].user_id]
    run_dbt(db_url, tmp_path, "build", *SELECT)
    influence_key = "user_id, week, axis, kind, rank"
    drift_key = "user_id, artist_id, axis, first_week, last_week"
    influence_before = xmin_rows(db_url, "marts.mart_label_influence", influence_key)
    drift_before = xmin_rows(db_url, "intermediate.int_artist_drift", drift_key)
    assert influence_before and drift_before

    # Two user-weeks change: a listen added to user 0's week A, all of user 1's week B deleted.
    weeks0 = sorted(read(db_url, "select week from intermediate.int_user_week_state where user_id = %d"
                                 % uids[0]).week)
    weeks1 = sorted(read(db_url, "select week from intermediate.int_user_week_state where user_id = %d"
                                 % uids[1]).week)
    week_a, week_b = weeks0[-3], weeks1[-2]  # late weeks: many artists were last heard before
    track = int(read(db_url, "select min(track_id) as t from track").t[0])
    execute(db_url, "insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, 'lastfm')",
            (uids[0], track, f"{week_a + timedelta(days=2)} 12:00+00"))
    execute(db_url, """delete from listen using users
                       where users.user_id = listen.user_id and listen.user_id = %s
                         and date_trunc('week', listen.played_at at time zone users.timezone)::date = %s""",
            (uids[1], week_b))

    run_dbt(db_url, tmp_path, "build", "--select", "tag:weekly",
            env={"SIDETRACK_WEEK_START": str(week_a), "SIDETRACK_WEEK_END": str(week_a + timedelta(weeks=1))})
    run_dbt(db_url, tmp_path, "build", "--select", "tag:weekly",
            "--vars", f"{{week_start: '{week_b}', week_end: '{week_b + timedelta(weeks=1)}'}}")
    # (int_artist_drift recomputes everything when more than artist_drift_partial_max_share of
    # its pairs changed, as here, where user 1 loses a whole week of its few artists: force the
    # partial path, which is what is tested)
    run_dbt(db_url, tmp_path, "build", "--exclude", "tag:weekly", "--vars", "{artist_drift_partial_max_share: 1.0}",
            env={"SIDETRACK_WEEK_START": "", "SIDETRACK_WEEK_END": ""})
    fresh = Fresh(pg_admin_uri, db_url, tmp_path)
    assert_same_tables(db_url, fresh.build())

    # Incremental: only the rows that depend on weeks A / B were rewritten. (A range run rebuilds
    # its weeks for every user, so every user's weeks A and B count as rebuilt.)
    def influenced(week: date) -> bool:
        return any(start <= week <= start + timedelta(days=182) for start in (week_a, week_b))

    after = xmin_rows(db_url, "marts.mart_label_influence", influence_key)
    kept = {k: v for k, v in influence_before.items() if not influenced(k[1])}
    assert kept and all(after.get(k) == v for k, v in kept.items())
    assert any(after.get(k) != v for k, v in influence_before.items() if influenced(k[1]))
    # drift fits: the (user, artist) pairs neither heard in week A or B now nor spanning them
    # before are not rewritten (only the pairs whose weeks changed are: a subset of these)
    heard = set(map(tuple, read(db_url, f"""select user_id, artist_id from intermediate.int_artist_user_week
                                            where week in ('{week_a}', '{week_b}')""").itertuples(index=False)))
    spanned = {k[:2] for k in drift_before if any(k[3] <= w <= k[4] for w in (week_a, week_b))}
    after = xmin_rows(db_url, "intermediate.int_artist_drift", drift_key)
    kept = {k: v for k, v in drift_before.items() if k[:2] not in heard | spanned and k in after}
    assert kept and all(after[k] == v for k, v in kept.items())
    assert any(after.get(k) != v for k, v in drift_before.items() if k[:2] in heard | spanned)

    # --full-refresh rebuilds everything (and the marks), a later incremental run still matches.
    run_dbt(db_url, tmp_path, "build", "--full-refresh", *SELECT)
    assert_same_tables(db_url, fresh.build())
    execute(db_url, "update artist set name = name || ' (remastered)' where artist_id = "
                    "(select min(artist_id) from marts.mart_artist_drift)")
    execute(db_url, "insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, 'lastfm')",
            (uids[2], track, f"{week_b + timedelta(days=3)} 12:00+00"))
    run_dbt(db_url, tmp_path, "build", *SELECT)
    assert_same_tables(db_url, fresh.build())
