"""The dbt project against a real PostgreSQL: synthetic listens in, marts checked against Python.

The dataset: two listeners in different time zones (Europe/Berlin, America/Los_Angeles) and one
without listens, 30 artists, 48 tracks (40 with mood scores on all ten axes), 46 weeks of listens.
Alice's energy jumps from low to high at a known week; Bob's taste stays put (with a two-week
gap). A few listens sit right at local week boundaries around daylight-saving changes. dbt runs
for real (`dbt build`, all data tests included) into a per-test target path.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2
import pytest

from sidetrack_pipeline.analytics.change_points import cusum
from sidetrack_pipeline.db.connection import libpq_params

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt_project"
DBT_BIN = REPO / ".venv" / "bin" / "dbt"

AXES = (
    "energy", "valence", "danceability", "brightness", "rhythmic_complexity",
    "pumpiness", "texture_density", "stereo_size", "tempo", "mode_confidence",
)
METHOD_PREFERENCE = ("smoothed-v1", "fused-v1", "mir-v2", "mir-v1", "tags-v1")  # = dbt var
ALPHA = 2 / (4 + 1)

FIRST_WEEK = date(2024, 1, 1)  # a Monday
N_WEEKS = 46
SHIFT_WEEK_INDEX = 24
SHIFT_WEEK = FIRST_WEEK + timedelta(weeks=SHIFT_WEEK_INDEX)  # 2024-06-17
N_ARTISTS = 30
N_TRACKS = 48
SCORED_TRACKS = range(40)  # tracks 40..47 have no mood scores
LOW_ENERGY = range(0, 20)
HIGH_ENERGY = range(20, 40)

BOB_GAP_WEEKS = (30, 31)
USERS = {
    "alice": "Europe/Berlin",
    "bob": "America/Los_Angeles",
    "carol": "Mars/Olympus_Mons",  # unknown zone, no listens: falls back to UTC
}

UTC = timezone.utc
# Listens on local week boundaries, as (user, UTC instant, track, expected local week).
BOUNDARY_LISTENS = [
    # Berlin, DST starts 2024-03-31 02:00 (UTC+1 -> UTC+2).
    ("alice", datetime(2024, 3, 31, 21, 30, tzinfo=UTC), 3, date(2024, 3, 25)),  # Sun 23:30 CEST
    ("alice", datetime(2024, 3, 31, 22, 30, tzinfo=UTC), 4, date(2024, 4, 1)),  # Mon 00:30 CEST
    # Berlin, DST ends 2024-10-27 03:00 (UTC+2 -> UTC+1).
    ("alice", datetime(2024, 10, 27, 22, 30, tzinfo=UTC), 25, date(2024, 10, 21)),  # Sun 23:30 CET
    ("alice", datetime(2024, 10, 27, 23, 30, tzinfo=UTC), 26, date(2024, 10, 28)),  # Mon 00:30 CET
    # Los Angeles, DST starts 2024-03-10 02:00 (UTC-8 -> UTC-7).
    ("bob", datetime(2024, 3, 11, 6, 30, tzinfo=UTC), 7, date(2024, 3, 4)),  # Sun 23:30 PDT, Mon UTC
    ("bob", datetime(2024, 3, 11, 7, 30, tzinfo=UTC), 8, date(2024, 3, 11)),  # Mon 00:30 PDT
    # Los Angeles, DST ends 2024-11-03 02:00 (UTC-7 -> UTC-8).
    ("bob", datetime(2024, 11, 4, 7, 30, tzinfo=UTC), 9, date(2024, 10, 28)),  # Sun 23:30 PST, Mon UTC
    ("bob", datetime(2024, 11, 4, 8, 30, tzinfo=UTC), 10, date(2024, 11, 4)),  # Mon 00:30 PST
]


def local_week(instant: datetime, tz_name: str) -> date:
    local = instant.astimezone(ZoneInfo(tz_name)).date()
    return local - timedelta(days=local.weekday())


def make_dataset(seed: int = 7) -> dict:
    """Catalogue, scores and listens, all in plain Python structures."""
    rng = random.Random(seed)
    tracks = [{"track_id": i + 1, "artist_idx": i % N_ARTISTS} for i in range(N_TRACKS)]

    scores = []  # (track_idx, axis, method, value)
    for t in LOW_ENERGY:
        for axis in AXES:
            if axis == "energy":
                low, high = rng.uniform(0.15, 0.40), rng.uniform(0.60, 0.90)
            else:
                # The high-energy twin shares the other axes, so only energy changes at the shift.
                low = high = rng.uniform(0.2, 0.8)
            scores.append((t, axis, "mir-v1", round(low, 4)))
            scores.append((t + len(LOW_ENERGY), axis, "mir-v1", round(high, 4)))
    # Method preference: fused-v1 beats mir-v1; an unlisted method is ignored.
    scores.append((5, "energy", "fused-v1", 0.33))
    scores.append((6, "valence", "experimental-v0", 0.99))

    listens = []  # (user, track_idx, played_at UTC)
    seen = set()
    for user in ("alice", "bob"):
        tz = ZoneInfo(USERS[user])
        for w in range(N_WEEKS):
            if user == "bob" and w in BOB_GAP_WEEKS:
                continue  # a holiday: the EMA runs over observed weeks only
            monday = FIRST_WEEK + timedelta(weeks=w)
            if user == "alice":
                pool = list(LOW_ENERGY if w < SHIFT_WEEK_INDEX else HIGH_ENERGY)
            else:
                pool = list(SCORED_TRACKS)
            pool += list(range(40, N_TRACKS))  # some unscored tracks too
            for _ in range(rng.randint(18, 28)):
                # A local wall-clock time inside the week, kept clear of the week's edges.
                offset = rng.randint(3600, 7 * 86400 - 3600)
                local = datetime.combine(monday, time()) + timedelta(seconds=offset)
                instant = local.replace(tzinfo=tz).astimezone(UTC)
                track = rng.choice(pool)
                if (user, track, instant) not in seen:
                    seen.add((user, track, instant))
                    listens.append((user, track, instant))
    for user, instant, track, _ in BOUNDARY_LISTENS:
        listens.append((user, track, instant))
    return {"tracks": tracks, "scores": scores, "listens": listens}


def load(db_url: str, data: dict) -> dict:
    """Insert the dataset; returns the database ids (users, tracks, boundary listen ids)."""
    conn = psycopg2.connect(db_url)
    ids: dict = {"users": {}, "tracks": {}, "boundary": []}
    with conn, conn.cursor() as cur:
        for name, tz in USERS.items():
            cur.execute(
                "insert into users (user_name, timezone) values (%s, %s) returning user_id", (name, tz)
            )
            ids["users"][name] = cur.fetchone()[0]
        artist_ids, release_ids = [], []
        for a in range(N_ARTISTS):
            cur.execute(
                "insert into artist (artist_key, name) values (%s, %s) returning artist_id",
                (f"name:artist {a:02d}", f"Artist {a:02d}"),
            )
            artist_ids.append(cur.fetchone()[0])
            cur.execute(
                "insert into release (release_key, title, artist_id) values (%s, %s, %s) returning release_id",
                (f"name:release {a:02d}", f"Release {a:02d}", artist_ids[-1]),
            )
            release_ids.append(cur.fetchone()[0])
        cur.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'public' and table_name = 'track'"
        )
        has_name_key = "name_key" in {r[0] for r in cur.fetchall()}  # added by a later schema change
        for t, track in enumerate(data["tracks"]):
            row = {
                "track_key": f"name:track {t:02d}",
                "title": f"Track {t:02d}",
                "artist_id": artist_ids[track["artist_idx"]],
                "release_id": release_ids[track["artist_idx"]],
                "duration_ms": 180_000 + t * 1000,
            }
            if has_name_key:
                row["name_key"] = f"artist {track['artist_idx']:02d}|track {t:02d}"
            cur.execute(
                f"insert into track ({', '.join(row)}) values ({', '.join(['%s'] * len(row))}) "
                "returning track_id",
                tuple(row.values()),
            )
            ids["tracks"][t] = cur.fetchone()[0]
        for t, axis, method, value in data["scores"]:
            cur.execute(
                "insert into mood_scores (track_id, axis, method, value, confidence) values (%s, %s, %s, %s, 0.8)",
                (ids["tracks"][t], axis, method, value),
            )
        boundary = {(u, inst) for u, inst, _, _ in BOUNDARY_LISTENS}
        for user, t, instant in data["listens"]:
            cur.execute(
                "insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, 'listenbrainz') "
                "returning listen_id",
                (ids["users"][user], ids["tracks"][t], instant),
            )
            listen_id = cur.fetchone()[0]
            if (user, instant) in boundary:
                ids["boundary"].append((listen_id, user, instant))
    conn.close()
    return ids


def run_dbt(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    params = libpq_params(db_url)
    env = {
        **os.environ,
        "SIDETRACK_PGHOST": params["host"],
        "SIDETRACK_PGPORT": params["port"],
        "SIDETRACK_PGUSER": params["user"],
        "SIDETRACK_PGPASSWORD": params["password"],
        "SIDETRACK_PGDATABASE": params["dbname"],
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    cmd = [
        str(DBT_BIN), *args,
        "--profiles-dir", str(DBT_DIR),
        "--project-dir", str(DBT_DIR),
        "--target-path", str(tmp_path / "dbt_target"),
        "--log-path", str(tmp_path / "dbt_logs"),
    ]
    return subprocess.run(cmd, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=300)


def query(db_url: str, sql: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def expected_scores(data: dict) -> dict[tuple[int, str], float]:
    """Per (track index, axis): the value of the most preferred listed method."""
    best: dict[tuple[int, str], tuple[int, float]] = {}
    for t, axis, method, value in data["scores"]:
        if method not in METHOD_PREFERENCE:
            continue
        rank = METHOD_PREFERENCE.index(method)
        if (t, axis) not in best or rank < best[(t, axis)][0]:
            best[(t, axis)] = (rank, value)
    return {key: value for key, (_, value) in best.items()}


def ema_series(means: list[float]) -> tuple[list[float], list[float | None]]:
    ema, momentum = [], []
    for i, m in enumerate(means):
        if i == 0:
            ema.append(m)
            momentum.append(None)
        else:
            ema.append(ALPHA * m + (1 - ALPHA) * ema[-1])
            momentum.append(ema[-1] - ema[-2])
    return ema, momentum


def reference_cusum(
    xs: list[float], k: float = 0.5, h: float = 5.0, warmup: int = 2, sd_floor: float = 0.02
) -> list[tuple[str, int, int]]:
    """The CUSUM of mart_change_points in plain Python — SideTrack's own twin of the SQL
    (analytics.change_points.cusum), which the change-point benchmark simulates with; the mart
    test below proves the two agree: (direction, change index, alarm index)."""
    return [(c.direction, c.change, c.detected) for c in cusum(xs, k, h, warmup, sd_floor)]


def test_dbt_parse(tmp_path: Path, db_url: str) -> None:
    result = run_dbt(db_url, tmp_path, "parse")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dbt_build_marts(db_url: str, tmp_path: Path) -> None:
    data = make_dataset()
    ids = load(db_url, data)
    result = run_dbt(db_url, tmp_path, "build")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]

    uid = ids["users"]
    track_idx = {v: k for k, v in ids["tracks"].items()}
    scores = expected_scores(data)

    # --- Time-zone weeks: every listen in its user's local ISO week, DST included. ---
    weeks_db = dict(query(db_url, "select listen_id, week from intermediate.int_listens_local"))
    for listen_id, user, instant in ids["boundary"]:
        expected = next(w for u, i, _, w in BOUNDARY_LISTENS if (u, i) == (user, instant))
        assert weeks_db[listen_id] == expected, (user, instant)
        assert local_week(instant, USERS[user]) == expected  # the fixture itself is right
    all_listens = query(
        db_url, "select l.listen_id, u.user_name, l.played_at from listen l join users u using (user_id)"
    )
    assert len(all_listens) == len(data["listens"]) == len(weeks_db)
    for listen_id, user, played_at in all_listens:
        assert weeks_db[listen_id] == local_week(played_at, USERS[user])

    # --- Preferred method per (track, axis). ---
    methods = dict(
        ((track_idx[t], axis), method)
        for t, axis, method in query(db_url, "select track_id, axis, method from intermediate.int_track_axis_scores")
    )
    assert methods[(5, "energy")] == "fused-v1"
    assert methods[(6, "valence")] == "mir-v1"
    assert methods[(7, "energy")] == "mir-v1"
    assert len(methods) == len(SCORED_TRACKS) * len(AXES)

    # --- Expected weekly mood from Python. ---
    per_series: dict[tuple[str, str], dict[date, list[float]]] = defaultdict(lambda: defaultdict(list))
    for user, t, instant in data["listens"]:
        for axis in AXES:
            if (t, axis) in scores:
                per_series[(user, axis)][local_week(instant, USERS[user])].append(scores[(t, axis)])

    rows = query(
        db_url,
        "select user_name, week, axis, mean_value, variance, sample_size, ema_4w, momentum "
        "from marts.mart_mood_week order by user_name, axis, week",
    )
    got = {(r[0], r[2], r[1]): r[3:] for r in rows}
    expected_rows = sum(len(weeks) for weeks in per_series.values())
    assert len(rows) == len(got) == expected_rows
    for user, n_weeks in (("alice", N_WEEKS), ("bob", N_WEEKS - len(BOB_GAP_WEEKS))):
        assert len(per_series[(user, "energy")]) == n_weeks
        assert sum(1 for r in rows if r[0] == user) == n_weeks * len(AXES)
    for (user, axis), weeks in per_series.items():
        for week, values in weeks.items():
            mean, var, n, _, _ = got[(user, axis, week)]
            assert n == len(values)
            assert mean == pytest.approx(statistics.fmean(values), abs=1e-9)
            assert var == pytest.approx(statistics.variance(values) if len(values) > 1 else 0.0, abs=1e-9)

    for user, axis in (("alice", "energy"), ("bob", "valence")):
        weeks = sorted(per_series[(user, axis)])
        ema, momentum = ema_series([statistics.fmean(per_series[(user, axis)][w]) for w in weeks])
        for week, e, m in zip(weeks, ema, momentum):
            _, _, _, ema_db, momentum_db = got[(user, axis, week)]
            assert ema_db == pytest.approx(e, abs=1e-9)
            if m is None:
                assert momentum_db is None
            else:
                assert momentum_db == pytest.approx(m, abs=1e-9)

    # --- Change points: the planted energy jump is found, stable series stay quiet. ---
    cps = query(
        db_url,
        "select user_name, axis, week, detected_week, direction, magnitude, statistic, method "
        "from marts.mart_change_points order by user_name, axis, week",
    )
    alice_energy = [c for c in cps if c[0] == "alice" and c[1] == "energy"]
    near = [c for c in alice_energy if abs((c[2] - SHIFT_WEEK).days) <= 14]
    assert len(near) == 1, cps
    _, _, week, detected, direction, magnitude, statistic, method = near[0]
    assert direction == "up"
    assert detected >= week
    assert magnitude > 0.25  # low pool ~0.28 -> high pool ~0.75
    assert statistic > 5
    assert method == "cusum-v1"
    assert alice_energy == near, alice_energy  # no spurious alarms on that series either
    assert [c for c in cps if c[0] == "bob"] == []
    assert [c for c in cps if c[1] == "valence"] == []

    # --- The SQL CUSUM is the reference algorithm: rerun on every axis with a low threshold. ---
    all_axes = "[" + ", ".join(AXES) + "]"
    result = run_dbt(
        db_url, tmp_path, "run", "--select", "mart_change_points",
        "--vars", f"{{change_point_axes: {all_axes}, cusum_h: 2.0}}",
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    expected_cps = set()
    for (user, axis), weeks in per_series.items():
        ordered = sorted(weeks)
        xs = [statistics.fmean(weeks[w]) for w in ordered]
        for direction, change, alarm in reference_cusum(xs, h=2.0):
            expected_cps.add((user, axis, ordered[change], ordered[alarm], direction))
    got_cps = set(
        query(db_url, "select user_name, axis, week, detected_week, direction from marts.mart_change_points")
    )
    assert len(expected_cps) > 10  # h = 2 alarms often: a real check of the recursion
    assert got_cps == expected_cps

    # --- Overview and weekly volume. ---
    overview = {
        r[0]: r[1:]
        for r in query(
            db_url,
            "select user_name, timezone, listens, unique_tracks, unique_artists, weeks, first_week, "
            "last_week, analysed_tracks from marts.mart_overview",
        )
    }
    assert overview["carol"] == ("UTC", 0, 0, 0, 0, None, None, 0)
    for user in ("alice", "bob"):
        mine = [(t, inst) for u, t, inst in data["listens"] if u == user]
        weeks = {local_week(inst, USERS[user]) for _, inst in mine}
        tracks = {t for t, _ in mine}
        assert overview[user] == (
            USERS[user],
            len(mine),
            len(tracks),
            len({data["tracks"][t]["artist_idx"] for t in tracks}),
            len(weeks),
            min(weeks),
            max(weeks),
            len(tracks & set(SCORED_TRACKS)),
        )
        week_rows = query(
            db_url,
            "select week, listens, unique_tracks, unique_artists from marts.mart_listens_week "
            "where user_name = %s order by week",
            (user,),
        )
        by_week: dict[date, list[int]] = defaultdict(list)
        for t, inst in mine:
            by_week[local_week(inst, USERS[user])].append(t)
        assert week_rows == [
            (w, len(ts), len(set(ts)), len({data["tracks"][t]["artist_idx"] for t in ts}))
            for w, ts in sorted(by_week.items())
        ]
