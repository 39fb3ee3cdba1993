"""Change-point detection: planted shifts found within ±1 week, and false alarms on null histories.

40 synthetic two-year listening histories (sidetrack_pipeline/analytics/change_point_sim.py:
sessions, AR(1) taste, varying listens per week): 20 with a planted energy shift of ±`--shift`
at a random week 40-69, 20 without. Each listen becomes a real listen of a track whose energy
score is the listen's value (rounded to 0.001; valence is constant), in a fresh embedded
PostgreSQL; then the REAL pipeline runs: `dbt run` (mart_mood_week, the SQL CUSUM of
mart_change_points), the PELT asset's code (`detect_pelt` → change_point_detection), and
mart_change_points again (the union). Scores are read back from marts.mart_change_points.

A hit: a row of the method for the user's energy with |week - planted week| <= 7 days.
A false alarm: any row (either axis) of a null history. Thresholds: the dbt_project.yml vars.
`--tune` prints the null false-alarm rate / detection grid the vars were chosen from.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import results_section  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sidetrack_pipeline.analytics import change_point_sim as sim  # noqa: E402
from sidetrack_pipeline.analytics import change_point_store, change_points  # noqa: E402

RESULTS = REPO / "benchmarks" / "RESULTS.md"
FIRST_WEEK = date(2024, 1, 1)  # a Monday
WEEKS = 104
DBT_DIR = REPO / "dbt_project"


def histories(seed: int, shift: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(40):
        planted = i < 20
        at = int(rng.integers(40, 70)) if planted else None
        size = float(rng.choice([-1, 1]) * shift) if planted else 0.0
        out.append({"name": f"{'shift' if planted else 'null'}{i:02d}", "shift_at": at, "shift": size,
                    "listens": sim.weekly_listens(rng, WEEKS, at, size)})
    return out


def load(url: str, hs: list[dict]) -> None:
    import psycopg2
    from psycopg2.extras import execute_values

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("insert into artist (artist_key, name) values ('name:synthetic', 'Synthetic') returning artist_id")
        artist = cur.fetchone()[0]
        cur.execute("insert into release (release_key, title, artist_id) values ('name:synthetic', 'Synthetic', %s) "
                    "returning release_id", (artist,))
        release = cur.fetchone()[0]
        cur.execute("select column_name from information_schema.columns where table_name = 'track'")
        has_name_key = "name_key" in {r[0] for r in cur.fetchall()}
        tracks = {}
        for v in range(1001):
            cols = "track_key, title, artist_id, release_id, duration_ms" + (", name_key" if has_name_key else "")
            vals = [f"name:level {v}", f"Level {v}", artist, release, 180_000] + ([f"synthetic|level {v}"] if has_name_key else [])
            cur.execute(f"insert into track ({cols}) values ({', '.join(['%s'] * len(vals))}) returning track_id", vals)
            tracks[v] = cur.fetchone()[0]
        execute_values(cur, "insert into mood_scores (track_id, axis, method, value, confidence) values %s",
                       [(t, axis, "mir-v1", v / 1000 if axis == "energy" else 0.5, 0.8)
                        for v, t in tracks.items() for axis in ("energy", "valence")])
        for h in hs:
            cur.execute("insert into users (user_name, timezone) values (%s, 'UTC') returning user_id", (h["name"],))
            user = cur.fetchone()[0]
            rows = []
            for w, values in enumerate(h["listens"]):
                start = datetime.combine(FIRST_WEEK + timedelta(weeks=w), time(8), tzinfo=timezone.utc)
                rows += [(user, tracks[int(round(v * 1000))], start + timedelta(minutes=5 * j), "listenbrainz")
                         for j, v in enumerate(values)]
            execute_values(cur, "insert into listen (user_id, track_id, played_at, source) values %s", rows,
                           page_size=5000)
    conn.close()


def dbt(url: str, target: Path, *args: str) -> None:
    from sidetrack_pipeline.defs.resources import DatabaseResource

    env = {**os.environ, **DatabaseResource(url=url).dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [str(REPO / ".venv" / "bin" / "dbt"), *args, "--profiles-dir", str(DBT_DIR), "--project-dir",
           str(DBT_DIR), "--target-path", str(target / "t"), "--log-path", str(target / "l")]
    out = subprocess.run(cmd, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-4000:])


def run_mart(hs: list[dict]) -> tuple[list[tuple], set[tuple]]:
    """(user_name, axis, week, method) of marts.mart_change_points after the real pipeline, and the
    CUSUM rows the Python twin finds on the same weekly means."""
    import psycopg2

    from sidetrack_pipeline.db import embedded
    from sidetrack_pipeline.db.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        pgdata = Path(tmp) / "pgdata"
        url = embedded.ensure_database(embedded.start(pgdata), "change_points_bench", fresh=True)
        try:
            upgrade(url)
            load(url, hs)
            dbt(url, Path(tmp), "run", "--select", "+mart_change_points")
            conn = psycopg2.connect(url)
            with conn:
                change_point_store.detect_pelt(conn)
            dbt(url, Path(tmp), "run", "--select", "mart_change_points")
            with conn, conn.cursor() as cur:
                cur.execute("select user_name, axis, week, method from marts.mart_change_points")
                rows = cur.fetchall()
                cur.execute("select user_id, user_name from users")
                names = dict(cur.fetchall())
            # the Python twin on the mart's own weekly means must give the mart's CUSUM rows
            v = change_point_store.dbt_vars()
            twin = {(names[u], axis, pts[c.change][0], c.method)
                    for (u, axis), pts in change_point_store.weekly_series(
                        conn, v["change_point_axes"], int(v["cusum_min_week_listens"])).items()
                    for c in change_points.cusum([x for _, x in pts], k=v["cusum_k"], h=v["cusum_h"],
                                                 warmup=v["cusum_warmup_weeks"], sd_floor=v["cusum_sd_floor"])}
            conn.close()
        finally:
            embedded.stop(pgdata)
    return rows, twin


def score(hs: list[dict], rows: list[tuple]) -> dict:
    result = {}
    for method in (change_points.CUSUM_METHOD, change_points.PELT_METHOD):
        mine = [r for r in rows if r[3] == method]
        hits = extra = 0
        for h in hs:
            if h["shift_at"] is None:
                continue
            planted = FIRST_WEEK + timedelta(weeks=h["shift_at"])
            user = [r for r in mine if r[0] == h["name"]]
            near = [r for r in user if r[1] == "energy" and abs((r[2] - planted).days) <= 7]
            hits += bool(near)
            extra += len(user) - len(near)
        false = sum(1 for r in mine if r[0].startswith("null"))
        result[method] = {"hits": hits, "false_alarms": false, "other_rows_on_shifted": extra}
    return result


def twin_detection(shift: float, n: int = 300, seed: int = 77) -> dict:
    """Python twin only: detection within ±1 week for `n` planted shifts of ±shift (context)."""
    v = change_point_store.dbt_vars()
    rng = np.random.default_rng(seed)
    hits = {change_points.CUSUM_METHOD: 0, change_points.PELT_METHOD: 0}
    for _ in range(n):
        at = int(rng.integers(40, 70))
        xs, idx = sim.weekly_series(rng, WEEKS, at, float(rng.choice([-1, 1]) * shift))
        for f in (change_points.cusum(xs, k=v["cusum_k"], h=v["cusum_h"]),
                  change_points.pelt(xs, penalty=v["pelt_penalty"], min_size=v["pelt_min_weeks"])):
            if any(abs(idx[c.change] - at) <= 1 for c in f):
                hits[f[0].method] += 1
    return {m: h / n for m, h in hits.items()}


def tune(n: int = 500, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    nulls = [sim.weekly_series(rng, WEEKS)[0] for _ in range(n)]
    years = n * WEEKS / 52
    for h in (5, 6, 8, 10, 12, 14):
        print(f"cusum k=0.5 h={h}: {sum(len(change_points.cusum(x, h=h)) for x in nulls) / years:.4f} false alarms/user-year")
    for p in (2, 3, 4, 5, 6):
        print(f"pelt penalty={p}: {sum(len(change_points.pelt(x, penalty=p)) for x in nulls) / years:.4f} false alarms/user-year")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--shift", type=float, default=0.3)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.tune:
        tune()
        return
    v = change_point_store.dbt_vars()
    hs = histories(args.seed, args.shift)
    rows, twin_rows = run_mart(hs)
    res = score(hs, rows)
    mart_cusum = {r for r in rows if r[3] == change_points.CUSUM_METHOD}
    twin = {s: twin_detection(s) for s in (0.15, 0.2, 0.3)}
    lines = [
        "## Change-points (`benchmarks/change_points.py`)", "",
        f"40 synthetic two-year histories (seed {args.seed}) through the real pipeline (PostgreSQL, dbt "
        f"mart_change_points, PELT asset code): 20 with a planted energy shift of ±{args.shift} at week 40-69, "
        f"20 null. Thresholds from dbt_project.yml: cusum_k {v['cusum_k']}, cusum_h {v['cusum_h']}, "
        f"pelt_penalty {v['pelt_penalty']}, pelt_min_weeks {v['pelt_min_weeks']}.", "",
        "| method | planted shifts found within ±1 week (of 20) | false alarms on 20 null histories (40 user-years) "
        "| other rows on shifted histories |",
        "|---|---|---|---|",
    ]
    for m, r in res.items():
        lines.append(f"| {m} | {r['hits']} | {r['false_alarms']} | {r['other_rows_on_shifted']} |")
    lines += ["", f"Python CUSUM twin on the mart's weekly means: {len(twin_rows)} change-points, "
              f"{'identical to' if twin_rows == mart_cusum else 'DIFFERENT from'} the mart's {len(mart_cusum)}.",
              "", "Python twin, 300 planted shifts per size (detection within ±1 week): " + "; ".join(
        f"±{s}: cusum {t['cusum-v1']:.2f}, pelt {t['pelt-v1']:.2f}" for s, t in twin.items()), ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        results_section.write_section("change-points", text)


if __name__ == "__main__":
    main()
