"""Server-side render time of every dashboard page on 1 000 000 listens / 20 000 tracks.

The database is benchmarks/marts_speed.py's (imported, not copied): 20 000 tracks by 2 000
artists with 'mir-v1' scores, lexicon scores and 16-d vectors, 5 users in different time zones and
1 000 000 listens over two years (seed 2026), filled by COPY into an embedded PostgreSQL under
/tmp/sidetrack-bench/dashboard-speed. On top of it this script adds what the dashboard reads and
the generator does not write — synthetic audio features, releases and record labels, a few
personal labels — runs the real dbt project (`dbt run`, every model), and fills the analytics
tables with the pipeline's own code: PELT change-points (`change_point_store.detect_pelt`, then
mart_change_points again), HDBSCAN clusters and each week's dominant cluster
(`analytics.clusters`), listening outliers for the last weeks (`clusters.outliers`), and the
weekly taste trajectory (`trajectory.weekly_positions`) over a 2-D projection. The projection is a
fixed random linear map of the standardised vectors, not a UMAP fit (that costs minutes here and
does not change what the dashboard reads: 20 000 (x, y) rows). The database is kept and reused by
later runs while the generator, the dbt models and the migrations are unchanged (`--rebuild`
forces a new one).

Then each page of the dashboard's registry (dashboard/pages/__init__.py) is rendered with
`streamlit.testing.v1.AppTest`, in this process, for one user with two years of history
(SIDETRACK_DASHBOARD_USER): after a warm-up pass over all pages (imports, connection pool,
PostgreSQL's buffers), per page and repeat: `st.cache_data` cleared, a new session, first run
(**cold**: every query runs) and second run of the same session (**warm**: the cached queries).
Times are wall-clock of `AppTest.run()` (script + queries + element serialisation; no browser),
median of the repeats; every SQL statement's time is recorded through SQLAlchemy events, so a
slow page names its slowest query (with EXPLAIN ANALYZE printed).

Writes the section between the dashboard-speed markers of RESULTS.md.

    .venv/bin/python benchmarks/dashboard_speed.py [--listens N] [--repeat 3] [--rebuild] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import results_section  # noqa: E402
import marts_speed as gen  # noqa: E402  (the 1M-listen generator; owned by the marts benchmark)

DBT_DIR = REPO / "dbt_project"
APP = REPO / "dashboard" / "app.py"
BENCH_DIR = Path(tempfile.gettempdir()) / "sidetrack-bench" / "dashboard-speed"
DB_NAME = "bench_dashboard"
TARGET_S = 1.5
N_RELEASES, N_LABELS = 4_000, 300
OUTLIER_WEEKS = 26
N_CLUSTERS = 30
BUILD_VERSION = 3   # bump when fill_extra / fill_analytics change what they write


# ------------------------------------------------------------------------------------ the database

def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for p in files:
            if "__pycache__" in p.parts or p.suffix == ".pyc":
                continue
            h.update(str(p.relative_to(REPO)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def stamp(listens: int) -> dict:
    """What the cached database was built from; any change rebuilds it."""
    return {
        "listens": listens,
        "generator": _digest([REPO / "benchmarks" / "marts_speed.py"]),
        "build": BUILD_VERSION,
        "migrations": _digest([REPO / "sidetrack_pipeline" / "db" / "migrations"]),
        "dbt": _digest([DBT_DIR / "models", DBT_DIR / "macros", DBT_DIR / "dbt_project.yml"]),
        "analytics": _digest([REPO / "sidetrack_pipeline" / "analytics"]),
    }


def _copy(cur, table: str, columns: list[str], lines) -> None:
    cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin", io.StringIO("".join(lines)))


def fill_extra(url: str, rng: np.random.Generator) -> None:
    """Features, releases and labels of the 20 000 tracks, clustered 'mir-v1' vectors, local
    files for 60 % of them, and a few personal labels."""
    import psycopg2

    keys = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        n = gen.N_TRACKS
        bpm = rng.uniform(70, 175, n)
        f = rng.random((n, 8))
        _copy(cur, "features", ["track_id", "content_hash", "analyzer_version", "duration_s", "bpm",
                                "bpm_confidence", "key", "mode", "key_confidence", "loudness_lufs",
                                "spectral_centroid_hz", "onset_rate", "stereo_width", "pumpiness", "danceability"],
              (f"{t + 1}\tbench{t + 1}\tmir-2\t{120 + 300 * f[t, 0]:.1f}\t{bpm[t]:.2f}\t{f[t, 1]:.3f}\t"
               f"{keys[t % 12]}\t{'major' if f[t, 2] > 0.5 else 'minor'}\t{f[t, 3]:.3f}\t{-20 + 14 * f[t, 4]:.2f}\t"
               f"{500 + 4000 * f[t, 5]:.1f}\t{1 + 6 * f[t, 6]:.2f}\t{f[t, 7]:.3f}\t{f[t, 0]:.3f}\t{f[t, 2]:.3f}\n"
               for t in range(n)))
        _copy(cur, "release", ["release_id", "release_key", "title", "artist_id"],
              (f"{r}\tname:release {r}\tRelease {r}\t{1 + r % gen.N_ARTISTS}\n" for r in range(1, N_RELEASES + 1)))
        _copy(cur, "label", ["label_id", "name"], (f"{i}\tLabel {i}\n" for i in range(1, N_LABELS + 1)))
        _copy(cur, "release_label", ["release_id", "label_id"],
              (f"{r}\t{1 + r % N_LABELS}\n" for r in range(1, N_RELEASES + 1)))
        for table, key in (("release", "release_id"), ("label", "label_id")):
            cur.execute(f"select setval(pg_get_serial_sequence('{table}', '{key}'), (select max({key}) from {table}))")
        cur.execute(f"update track set release_id = 1 + (track.track_id % {N_RELEASES}), "
                    "duration_ms = (f.duration_s * 1000)::int from features f where f.track_id = track.track_id")
        # clustered 16-d vectors instead of the generator's isotropic noise (in which HDBSCAN finds
        # no sound clusters, so no week would have a dominant cluster and no mixtape could be made):
        # 30 Gaussian clusters, 10 % of the tracks scattered between them
        centres = rng.normal(scale=3.0, size=(N_CLUSTERS, 16))
        member = rng.integers(0, N_CLUSTERS, n)
        vec = (centres[member] + rng.normal(scale=0.35, size=(n, 16))).astype(np.float32)
        scattered = rng.random(n) < 0.10
        vec[scattered] = rng.uniform(-6, 6, size=(int(scattered.sum()), 16)).astype(np.float32)
        cur.execute("create temp table bench_vec (track_id integer primary key, embedding vector(16))")
        _copy(cur, "bench_vec", ["track_id", "embedding"],
              (f"{t + 1}\t[{','.join(f'{v:.5f}' for v in vec[t])}]\n" for t in range(n)))
        cur.execute("update embeddings e set embedding = b.embedding from bench_vec b "
                    "where e.track_id = b.track_id and e.model = 'mir-v1'")
        # 60 % of the catalogue has a local file (mixtapes are drawn from those)
        cur.execute("update track set local_path = '/music/' || artist_id || '/' || track_id || '.flac' "
                    "where track_id % 5 < 3")
        # 40 personal energy labels for the first user, on tracks they listened to
        cur.execute("""insert into labels_user (user_id, track_id, axis, value, source)
                       select 1, track_id, 'energy', random(), 'dashboard'
                       from (select distinct track_id from listen where user_id = 1 order by track_id limit 40) t""")
        cur.execute("analyze")
    conn.close()


def dbt_run(url: str, select: str | None = None) -> float:
    """`dbt run` (models only) of the real project against the benchmark database."""
    from sidetrack_pipeline.db.connection import libpq_params

    p = libpq_params(url)
    env = {**os.environ, "SIDETRACK_PGHOST": p["host"], "SIDETRACK_PGPORT": p["port"],
           "SIDETRACK_PGUSER": p["user"], "SIDETRACK_PGPASSWORD": p["password"],
           "SIDETRACK_PGDATABASE": p["dbname"], "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    cmd = [str(REPO / ".venv" / "bin" / "dbt"), "run", "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR),
           "--target-path", str(BENCH_DIR / "target"), "--log-path", str(BENCH_DIR / "logs")]
    if select:
        cmd += ["--select", select]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stdout[-4000:] + r.stderr[-2000:])
    return time.perf_counter() - t0


def fill_analytics(url: str, rng: np.random.Generator) -> dict:
    """The analytics tables, written by the pipeline's own functions (see the module docstring)."""
    import pandas as pd
    import psycopg2
    from psycopg2.extras import execute_values

    from sidetrack_pipeline.analytics import change_point_store, clusters, trajectory
    from sidetrack_pipeline.scoring import vectors

    took = {}
    conn = psycopg2.connect(url)
    with conn:
        t0 = time.perf_counter()
        took["pelt_rows"] = change_point_store.detect_pelt(conn)
        took["pelt_s"] = time.perf_counter() - t0
    with conn, conn.cursor() as cur:
        track_ids, matrix = clusters.load_vectors(cur, vectors.MODEL)
        standardised, _, _ = trajectory.standardise(matrix)
        xy = standardised @ rng.normal(size=(matrix.shape[1], 2)) / np.sqrt(matrix.shape[1])
        coords = pd.DataFrame({"track_id": track_ids, "x": xy[:, 0], "y": xy[:, 1]})
        cur.execute("delete from track_projection where method = %s", (trajectory.METHOD,))
        execute_values(cur, "insert into track_projection (track_id, method, x, y) values %s",
                       [(int(t), trajectory.METHOD, float(x), float(y)) for t, x, y in coords.itertuples(index=False)])
        cur.execute("select user_id, track_id, week, played_at, timezone from intermediate.int_listens_local")
        listens = pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week", "played_at", "timezone"])
        weeks = trajectory.weekly_positions(listens[["user_id", "track_id", "week"]], coords)
        cur.execute("delete from taste_trajectory_week where method = %s", (trajectory.METHOD,))
        execute_values(cur, "insert into taste_trajectory_week (user_id, week, method, x, y, listens) values %s",
                       [(int(r.user_id), r.week, trajectory.METHOD, float(r.x), float(r.y), int(r.listens))
                        for r in weeks.itertuples(index=False)])
        t0 = time.perf_counter()
        labels = clusters.cluster_tracks(matrix)
        took["hdbscan_s"] = time.perf_counter() - t0
        clusters.write_track_clusters(cur, track_ids, labels)
        frame = pd.DataFrame({"track_id": track_ids, "cluster": labels})
        dominant = clusters.dominant_clusters(listens[["user_id", "track_id", "week"]], frame)
        first, last = listens["week"].min(), listens["week"].max()
        clusters.write_cluster_weeks(cur, dominant, first, last + dt.timedelta(days=7))
        # listening outliers of the last OUTLIER_WEEKS weeks, as the weekly asset computes them
        from zoneinfo import ZoneInfo

        t0 = time.perf_counter()
        rows = []
        mondays = sorted(listens["week"].unique())[-OUTLIER_WEEKS:]
        for monday in mondays:
            users = listens[listens["week"] == monday].groupby("user_id")["timezone"].first()
            ends = {int(u): dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), ZoneInfo(tz))
                    for u, tz in users.items()}
            found = clusters.outliers(listens[["user_id", "track_id", "played_at"]], track_ids, matrix,
                                      top_n=10, ends=ends)
            rows += [(int(r.user_id), monday, int(r.track_id), clusters.METHOD, r.window_end, float(r.distance),
                      float(r.z), int(r.rank)) for r in found.itertuples(index=False)]
        cur.execute("delete from listening_outlier where method = %s", (clusters.METHOD,))
        execute_values(cur, """insert into listening_outlier
                               (user_id, week, track_id, method, window_end, distance, z, rank) values %s""", rows)
        took["outliers_s"] = time.perf_counter() - t0
        took["clusters"] = int(len(set(labels.tolist()) - {clusters.NOISE}))
        cur.execute("analyze")
    conn.close()
    return took


def build(url: str, listens: int) -> dict:
    rng = np.random.default_rng(2026)
    facts = {}
    t0 = time.perf_counter()
    gen.fill(url, listens, rng)
    fill_extra(url, rng)
    facts["fill_s"] = time.perf_counter() - t0
    facts["dbt_s"] = dbt_run(url)
    facts.update(fill_analytics(url, rng))
    facts["dbt_change_points_s"] = dbt_run(url, "mart_change_points")
    return facts


def database(listens: int, rebuild: bool, keep: bool = False) -> tuple[str, str, dict]:
    """(admin URL, benchmark database URL, build facts): reused when its stamp still matches."""
    from sidetrack_pipeline.db import embedded
    from sidetrack_pipeline.db.migrate import upgrade

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    admin = embedded.start(BENCH_DIR / "pgdata")
    stamp_file = BENCH_DIR / "stamp.json"
    want = stamp(listens)
    saved = json.loads(stamp_file.read_text()) if stamp_file.is_file() else {}
    if not rebuild and saved and (saved.get("stamp") == want or keep):
        if saved.get("stamp") != want:
            changed = sorted(k for k in want if saved["stamp"].get(k) != want[k])
            print(f"warning: reusing a database built from other sources ({', '.join(changed)} changed)")
        url = embedded.ensure_database(admin, DB_NAME, fresh=False)
        return admin, url, {**saved.get("facts", {}), "reused": True, "stale": saved.get("stamp") != want}
    stamp_file.unlink(missing_ok=True)
    url = embedded.ensure_database(admin, DB_NAME, fresh=True)
    upgrade(url)
    facts = build(url, listens)
    stamp_file.write_text(json.dumps({"stamp": want, "facts": facts, "built": dt.datetime.now().isoformat()}))
    return admin, url, {**facts, "reused": False}


# ------------------------------------------------------------------------------------ timing

class SqlLog:
    """Every statement any SQLAlchemy engine in this process runs, with its wall time."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.entries: list[tuple[float, str, object]] = []
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("_bench_t0", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        t = time.perf_counter() - conn.info["_bench_t0"].pop()
        self.entries.append((t, statement, parameters))

    def take(self) -> list[tuple[float, str, object]]:
        out, self.entries = self.entries, []
        return out


def registry() -> list[tuple[str, str, str]]:
    """(title, url_path, page file relative to dashboard/app.py) of every page, in navigation order."""
    from dashboard.pages import PAGES

    out = []
    for title, url_path, file, *_ in PAGES:
        if not (APP.parent / file).is_file() and (APP.parent / "pages" / file).is_file():
            file = f"pages/{file}"   # the registry's first layout named files inside pages/
        out.append((title, url_path, file))
    return out


def _widget(elements, label: str):
    for element in elements:
        if element.label == label:
            return element
    raise LookupError(f"no widget labelled {label!r} (labels: {[e.label for e in elements]})")


# What a visitor does next on a page: (page title, what, action on the AppTest).
INTERACTIONS = [
    ("Track", "search “Track 12” (1 111 tracks match)",
     lambda at: _widget(at.text_input, "Find a track").input("Track 12")),
    ("Track", "search “Artist 1” (≈ 11 000 tracks match)",
     lambda at: _widget(at.text_input, "Find a track").input("Artist 1")),
    ("Mixtape", "Generate (latest week, 75 min)",
     lambda at: _widget(at.button, "Generate").click()),
    ("Moods", "filter: the most played artist",
     lambda at: _widget(at.multiselect, "Artists").select(_widget(at.multiselect, "Artists").options[0])),
]


def measure(page_file: str, first: bool, timeout: float, sql: SqlLog | None = None, action=None) -> dict:
    """A new session on the page (and, with `action`, that action on its widgets), timed twice.

    AppTest only knows the navigation after a run of the entry, so a session for any page but
    the first one opens the first page (untimed) and switches to the page; an action is applied
    after the page's own first run. Then `st.cache_data` is cleared: the next run is **cold**
    (every query runs), the one after it **warm** (the same session, cached queries)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if not first:
        at.run()
        at.switch_page(page_file)
    if action is not None:
        at.run()
        action(at)
    st.cache_data.clear()
    if sql is not None:
        sql.take()
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    statements = sql.take() if sql is not None else []
    problems = page_problems(at)
    t0 = time.perf_counter()
    at.run()
    warm = time.perf_counter() - t0
    return {"cold": cold, "warm": warm, "problems": problems + page_problems(at), "statements": statements,
            "shown": shown(at)}


def shown(at) -> str:
    """What a run showed: counts of charts, tables and metrics, and any info/warning text."""
    parts = [f"{len(at.get('plotly_chart'))} charts", f"{len(at.dataframe)} tables", f"{len(at.metric)} metrics",
             f"{len(at.button)} buttons"]
    notices = [" ".join(str(e.value).split())[:90] for e in list(at.info) + list(at.warning)]
    return ", ".join(parts) + ("; " + " / ".join(notices) if notices else "")


def page_problems(at) -> list[str]:
    out = [f"exception: {e.value}" for e in at.exception]
    out += [f"st.error: {e.value}" for e in at.error]
    return out


def explain(url: str, statement: str, parameters) -> str:
    """EXPLAIN ANALYZE of one logged statement (psycopg2 pyformat parameters), plan text."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("explain (analyze, buffers) " + statement, parameters or None)
            return "\n".join(r[0] for r in cur.fetchall())
    finally:
        conn.rollback()
        conn.close()


# Indexes worth trying when a page misses the target: each is created inside a transaction that is
# rolled back, the slow statement timed with it, and the result reported (nothing is kept).
WHAT_IF_INDEXES = [
    "create index bench_listen_user_track on listen (user_id, track_id)",
]


def what_if(url: str, statement: str, parameters) -> list[tuple[str, float]]:
    """(index, seconds of the statement with it) for each WHAT_IF_INDEXES entry, rolled back."""
    import psycopg2

    out = []
    for ddl in WHAT_IF_INDEXES:
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute(ddl)
                cur.execute("analyze listen")
                t0 = time.perf_counter()
                cur.execute(statement, parameters or None)
                cur.fetchall()
                out.append((ddl, time.perf_counter() - t0))
        finally:
            conn.rollback()
            conn.close()
    return out


def plan_excerpt(plan: str, lines: int = 14) -> str:
    """The plan's top lines and every node that ran more than once (a per-row subplan)."""
    rows = plan.splitlines()
    keep = rows[:6] + [r for r in rows[6:] if "loops=" in r and "loops=1)" not in r]
    return "\n".join(keep[:lines])


def machine() -> dict:
    cpu = results_section.cpu_name()
    mem = "?"
    try:
        kb = int(next(li for li in Path("/proc/meminfo").read_text().splitlines()
                      if li.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    import streamlit

    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "streamlit": streamlit.__version__}


def git_commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "dashboard"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (dashboard/ with uncommitted changes)" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listens", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--user", default="user0", help="the listener whose pages are rendered")
    parser.add_argument("--timeout", type=float, default=120.0, help="AppTest timeout per run, seconds")
    parser.add_argument("--rebuild", action="store_true", help="build the database even if a matching one is kept")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the kept database even if the dbt models, migrations or generator changed")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from sidetrack_pipeline.db import embedded

    t0 = time.perf_counter()
    admin, url, facts = database(args.listens, args.rebuild, args.keep)
    setup_s = time.perf_counter() - t0
    os.environ["SIDETRACK_DATABASE_URL"] = url
    os.environ["SIDETRACK_HOME"] = str(BENCH_DIR / "home")
    os.environ["SIDETRACK_DASHBOARD_USER"] = args.user
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("""select count(*), count(distinct track_id), min(played_at)::date, max(played_at)::date
                       from listen l join users u using (user_id) where u.user_name = %s""", (args.user,))
        user_listens, user_tracks, since, until = cur.fetchone()
        cur.execute("select count(*), (select count(*) from track) from listen")
        total_listens, total_tracks = cur.fetchone()
        cur.execute("select version()")
        pg_version = cur.fetchone()[0].split(" on ")[0]
    conn.close()

    pages = registry()
    sql = SqlLog()
    load_before = os.getloadavg()
    # warm-up: imports, the connection pool, PostgreSQL's buffers (the first one is the process's first run)
    first_process_s = None
    for i, (_title, _path, module) in enumerate(pages):
        cold = measure(module, i == 0, args.timeout)["cold"]
        first_process_s = cold if first_process_s is None else first_process_s

    cases = [(f"{title} (`/{url_path}`)", module, i == 0, None) for i, (title, url_path, module) in enumerate(pages)]
    files = {title: file for title, _, file in pages}
    cases += [(f"{title}: {what}", files[title], False, action) for title, what, action in INTERACTIONS
              if title in files]
    results = []
    for name, module, first, action in cases:
        runs = []
        for _ in range(args.repeat):
            runs.append(measure(module, first, args.timeout, sql, action))
            if runs[-1]["cold"] > 10 * TARGET_S:   # far off the target: once is enough
                break
        colds, warms = [r["cold"] for r in runs], [r["warm"] for r in runs]
        statements = runs[-1]["statements"]
        results.append({"name": name, "interaction": action is not None,
                        "cold": statistics.median(colds), "cold_max": max(colds),
                        "warm": statistics.median(warms), "warm_max": max(warms),
                        "queries": len(statements), "sql_s": sum(q[0] for q in statements),
                        "slowest": max(statements, key=lambda q: q[0]) if statements else None,
                        "problems": sorted({p for r in runs for p in r["problems"]}), "shown": runs[-1]["shown"]})
        r = results[-1]
        print(f"{name:<50} cold {r['cold']:.3f} s (max {r['cold_max']:.3f})  warm {r['warm']:.3f} s  "
              f"{r['queries']} queries {r['sql_s']:.3f} s  [{r['shown']}]  {'; '.join(r['problems'])[:200]}",
              flush=True)
    load_after = os.getloadavg()

    misses = [r for r in results if r["cold_max"] >= TARGET_S or r["warm_max"] >= TARGET_S]
    for r in misses:
        if r["slowest"]:
            t, statement, params = r["slowest"]
            r["plan"] = explain(url, statement, params)
            r["what_if"] = what_if(url, statement, params)
            print(f"\n--- {r['name']}: slowest query {t:.3f} s\n{statement}\nparams: {params}\n"
                  f"{r['plan']}\nwhat if: {r['what_if']}\n", flush=True)
    embedded.stop(BENCH_DIR / "pgdata")

    m = machine()
    def row(r: dict) -> str:
        ok = r["cold_max"] < TARGET_S and r["warm_max"] < TARGET_S and not r["problems"]
        slow = f"{r['slowest'][0]:.3f}" if r["slowest"] else "–"
        verdict = "met" if ok else ("**errors**" if r["problems"] else "**missed**")
        return (f"| {r['name']} | {r['cold']:.2f} | {r['cold_max']:.2f} | {r['warm']:.2f} | {r['warm_max']:.2f} | "
                f"{r['queries']} | {r['sql_s']:.2f} | {slow} | {verdict} | {r['shown']} |")

    header = (f"| {{}} | cold s | cold max | warm s | warm max | queries | SQL s | slowest query s | < {TARGET_S} s | shown |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    page_rows = "\n".join(row(r) for r in results if not r["interaction"])
    action_rows = "\n".join(row(r) for r in results if r["interaction"])
    notes = []
    for r in results:
        if r["problems"]:
            notes.append(f"- {r['name']}: the page reported {'; '.join(r['problems'])[:300]}")
    for r in misses:
        if r["slowest"]:
            stmt = " ".join(r["slowest"][1].split())
            fixes = "; ".join(f"with `{ddl}` (rolled back): {sec:.3f} s" for ddl, sec in r.get("what_if", []))
            notes.append(f"- {r['name']} missed the target; slowest query ({r['slowest'][0]:.2f} s of "
                         f"{r['sql_s']:.2f} s SQL), params {r['slowest'][2]}: `{stmt[:500]}`"
                         + (f"; {fixes}" if fixes else "")
                         + f"\n\n  ```\n  EXPLAIN ANALYZE (excerpt)\n  "
                         + plan_excerpt(r.get("plan", "")).replace("\n", "\n  ") + "\n  ```")
    built = ("reused from an earlier run" + (" (built from older sources: stale)" if facts.get("stale") else "")
             if facts.get("reused") else "built by this run") + \
        (f" (fill {facts['fill_s']:.0f} s, dbt run {facts['dbt_s']:.0f} s)" if "fill_s" in facts else "")
    text = f"""## Dashboard: server-side render time per page (`benchmarks/dashboard_speed.py`)

{dt.date.today().isoformat()}, commit {git_commit()}. {total_listens:,} listens, {total_tracks:,} tracks
(benchmarks/marts_speed.py's generator, seed 2026, plus features, releases/labels and the analytics
tables from the pipeline's own code; all dbt models); database {built}. Pages rendered for
`{args.user}`: {user_listens:,} listens of {user_tracks:,} tracks, {since} … {until}.
Machine: {m['cpu']}, {m['cores']} cores (shared with other engineers' work), {m['memory']} RAM;
Python {m['python']}, Streamlit {m['streamlit']}, {pg_version} (embedded, same machine).
Load average (1/5/15 min) {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f} before the timed runs,
{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} after.

`streamlit.testing.v1.AppTest` of dashboard/app.py switched to each page, in one process after a
warm-up pass over every page; per repeat ({args.repeat}): `st.cache_data` cleared and a new session,
**cold** = its first run (every query runs), **warm** = the same session's second run (cached
queries). Wall-clock seconds, median and max of the repeats (a case over 10× the target runs once);
target < {TARGET_S} s.
Queries / SQL s: statements the cold run sent through SQLAlchemy and their total time.

{header.format("page")}
{page_rows}

What a visitor does next on a page, timed the same way (the page in a new session, the action,
caches cleared, then cold and warm runs):

{header.format("page: action")}
{action_rows}

The very first run in a fresh process (imports of Streamlit's runtime, Plotly, pandas; the
connection pool) took {first_process_s:.2f} s for the first page; a running server pays it once.
{chr(10).join(notes) if notes else "Every page and action met the target, cold and warm."}
"""
    print(text)
    if not args.no_write:
        results_section.write_section("dashboard-speed", text)
    print(f"(set-up {setup_s:.0f} s)")



if __name__ == "__main__":
    main()
