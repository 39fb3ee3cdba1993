"""Shared fixtures of the dashboard tests (loaded with `pytest_plugins = ["tests.dashboard_fixtures"]`).

`dashboard_demo` (session): one real database with a demo-like history built through the
pipeline's own code — users and their encrypted ListenBrainz token through `users.set_user`,
audio features through `scoring.store.save_features`, the ten vibe axes and the mir-v1 vectors
through `score_all` / `embed_all`, a real `dbt build` of the whole project, and the taste map,
clusters and outliers materialised by Dagster (`taste_trajectory`, `track_clusters`,
`listening_outliers`). Two listeners:

* ana@example.com (Europe/Berlin): 52 weeks that shift from quiet, slow clusters to loud, fast
  ones (a change-point), listens from both ListenBrainz and Last.fm, a ListenBrainz token, a
  Last.fm user, labels, and five tracks only she ever played (artist MARKER_ARTIST, titles with
  MARKER_TITLE, on label MARKER_LABEL, far from everything else: her outliers).
* bob@example.com (America/New_York): 20 weeks of the shared local library.

Everything ana owns carries a marker string (ANA_MARKERS); the isolation test asserts that none
of them is ever rendered for bob. `empty_db` (session): a migrated database with no data and no
marts. `dash_env`: point the dashboard at one of them (function scope, caches cleared).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from sidetrack_pipeline.db import embedded
from sidetrack_pipeline.db.connection import connect, libpq_params
from sidetrack_pipeline.db.migrate import upgrade
from sidetrack_pipeline.users import Secret, generate_key, set_user

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
DBT_DIR = REPO / "dbt_project"
DBT_BIN = REPO / ".venv" / "bin" / "dbt"
# The marts the dashboard reads (and everything upstream); optional ones are read when present.
MARTS = ["+mart_overview", "+mart_overview_week", "+mart_listens_week", "+mart_mood_week", "+mart_mood_shares",
         "+mart_radar", "+mart_change_points", "+int_listens_local", "+mart_vibe_summary"]

ANA, BOB = "ana@example.com", "bob@example.com"
DORA = "dora@example.com"  # listens, but none of her tracks has audio analysis or any score
ANA_TOKEN = "ana-lb-token-5d1e7c0f9a2b4e6d"
MARKER_ARTIST = "Zorblax Quintet"
MARKER_TITLE = "Quimbly Marker"
MARKER_LABEL = "Markerhaus Records"
MARKER_LB_USER = "ana_lb_xqz"
MARKER_LASTFM = "ana_lastfm_xqz"
ANA_MARKERS = (MARKER_ARTIST, MARKER_TITLE, MARKER_LABEL, MARKER_LB_USER, MARKER_LASTFM, ANA_TOKEN, ANA)

CLUSTERS, PER_CLUSTER, ARTISTS_PER_CLUSTER = 4, 24, 6
END = dt.datetime(2026, 1, 25, 20, 0, tzinfo=dt.timezone.utc)  # a Sunday evening
NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
OIDC_SECRETS = {"auth": {
    "redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-cookie-secret",
    "client_id": "test-client", "client_secret": "test-client-secret",
    "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}}

# Sound of each cluster: quiet/slow/dark .. loud/fast/bright (energy rises with the index).
PROFILES = [
    dict(bpm=78, loudness_lufs=-24, spectral_centroid_hz=550, onset_rate=2.5, danceability=0.6, pumpiness=0.1,
         stereo_width=0.08, mode="minor"),
    dict(bpm=100, loudness_lufs=-18, spectral_centroid_hz=1100, onset_rate=4.5, danceability=1.1, pumpiness=0.25,
         stereo_width=0.15, mode="major"),
    dict(bpm=126, loudness_lufs=-11, spectral_centroid_hz=2200, onset_rate=8.0, danceability=1.9, pumpiness=0.6,
         stereo_width=0.3, mode="minor"),
    dict(bpm=150, loudness_lufs=-7, spectral_centroid_hz=3600, onset_rate=11.5, danceability=2.5, pumpiness=0.8,
         stereo_width=0.4, mode="major"),
]
MARKER_PROFILE = dict(bpm=188, loudness_lufs=-34, spectral_centroid_hz=5800, onset_rate=14.5, danceability=0.1,
                      pumpiness=0.0, stereo_width=0.0, mode="minor")
MOOD_WORDS = ("floaty", "warm", "driving", "euphoric")


@dataclass
class Demo:
    url: str
    home: Path
    key: str
    users: dict[str, int] = field(default_factory=dict)
    library: list[int] = field(default_factory=list)
    markers: list[int] = field(default_factory=list)
    mixtape_week: str = ""


def _features(rng: random.Random, profile: dict) -> dict:
    def jitter(x: float, rel: float = 0.06) -> float:
        return x * (1 + rng.uniform(-rel, rel))

    return {
        "analyzer_version": "test-dashboard", "duration_s": rng.uniform(200, 420),
        "bpm": round(jitter(profile["bpm"]), 1), "bpm_confidence": rng.uniform(0.7, 0.95),
        "key": rng.choice(NOTES), "mode": profile["mode"], "key_confidence": rng.uniform(0.6, 0.9),
        "loudness_lufs": profile["loudness_lufs"] + rng.uniform(-1.5, 1.5), "loudness_range_lu": rng.uniform(3, 9),
        "spectral_centroid_hz": jitter(profile["spectral_centroid_hz"]), "onset_rate": jitter(profile["onset_rate"]),
        "stereo_width": jitter(profile["stereo_width"]), "lr_correlation": rng.uniform(0.5, 0.9),
        "pumpiness": min(1.0, jitter(profile["pumpiness"])), "danceability": jitter(profile["danceability"]),
        "dynamic_complexity": rng.uniform(2, 6), "sample_rate": 44100, "channels": 2,
    }


def populate(url: str, library: Path, key: str, seed: int = 3) -> Demo:
    from sidetrack_pipeline.scoring.store import embed_all, save_features, score_all

    rng = random.Random(seed)
    library.mkdir(parents=True, exist_ok=True)
    demo = Demo(url=url, home=library.parent, key=key)
    with connect(url) as conn:
        ana = set_user(conn, ANA, timezone="Europe/Berlin", listenbrainz_user=MARKER_LB_USER,
                       listenbrainz_token=Secret(ANA_TOKEN), lastfm_user=MARKER_LASTFM, key=key)
        bob = set_user(conn, BOB, timezone="America/New_York")
        dora = set_user(conn, DORA, timezone="UTC")
        demo.users = {ANA: ana.user_id, BOB: bob.user_id, DORA: dora.user_id}
        with conn.cursor() as cur:
            def label(name: str) -> int:
                cur.execute("insert into label (name) values (%s) returning label_id", (name,))
                return cur.fetchone()[0]

            def track(artist: str, title: str, release: tuple[int, int], features: dict, path: bool,
                      mood: str) -> int:
                cur.execute("insert into artist (artist_key, name) values (%s, %s) on conflict (artist_key) "
                            "do update set name = excluded.name returning artist_id",
                            (f"name:{artist.lower()}", artist))
                artist_id = cur.fetchone()[0]
                cur.execute("insert into release (release_key, title, artist_id) values (%s, %s, %s) "
                            "on conflict (release_key) do update set title = excluded.title returning release_id",
                            (f"name:{artist.lower()}|{release[0]}", f"{artist} EP {release[0]}", artist_id))
                release_id = cur.fetchone()[0]
                cur.execute("insert into release_label (release_id, label_id) values (%s, %s) on conflict do nothing",
                            (release_id, release[1]))
                cur.execute("""insert into track (track_key, name_key, title, artist_id, release_id, mbid)
                               values (%s, %s, %s, %s, %s, %s) returning track_id""",
                            (f"name:{artist.lower()}|{title.lower()}", f"{artist.lower()}|{title.lower()}", title,
                             artist_id, release_id, f"{rng.getrandbits(128):032x}"))
                track_id = cur.fetchone()[0]
                if path:
                    file = library / f"{track_id:04d}.flac"
                    file.write_bytes(b"fLaC" + bytes(32))
                    cur.execute("update track set local_path = %s where track_id = %s", (str(file), track_id))
                save_features(cur, track_id, f"hash-{track_id}", features)
                for word in ("floaty", "warm", "driving", "euphoric", "melancholic"):
                    value = 0.9 if word == mood else rng.uniform(0.05, 0.6)
                    cur.execute("insert into lexicon_scores (track_id, word, method, value) values (%s, %s, %s, %s)",
                                (track_id, word, "zeroshot-musicnn-v1", value))
                return track_id

            labels = [label(f"Label {c}") for c in range(CLUSTERS)]
            by_cluster: dict[int, list[int]] = {}
            for c, profile in enumerate(PROFILES):
                for k in range(PER_CLUSTER):
                    tid = track(f"Lib Artist {c}-{k % ARTISTS_PER_CLUSTER}", f"Song {c}-{k}", (c, labels[c]),
                                _features(rng, profile), True, MOOD_WORDS[c])
                    by_cluster.setdefault(c, []).append(tid)
                    demo.library.append(tid)
            marker_label = label(MARKER_LABEL)
            for k in range(5):
                demo.markers.append(track(MARKER_ARTIST, f"{MARKER_TITLE} {k + 1}", (99, marker_label),
                                          _features(rng, MARKER_PROFILE), False, "melancholic"))
            score_all(cur)
            embed_all(cur)

            listens = []
            for week in range(52):  # ana: quiet clusters, then from week 30 on loud ones
                monday = END - dt.timedelta(weeks=52 - week, days=6)
                clusters = (0, 1) if week < 30 else (2, 3)
                for n in range(18 + week % 5):
                    c = clusters[0] if rng.random() < 0.75 else clusters[1]
                    at = monday + dt.timedelta(hours=rng.uniform(0, 160))
                    source = "lastfm" if n % 4 == 0 else "listenbrainz"
                    listens.append((ana.user_id, rng.choice(by_cluster[c]), at, source))
                if week >= 44:
                    for m in demo.markers[: 2 + week % 3]:
                        listens.append((ana.user_id, m, monday + dt.timedelta(hours=rng.uniform(0, 160)),
                                        "listenbrainz"))
            for week in range(20):  # bob: the middle clusters
                monday = END - dt.timedelta(weeks=20 - week, days=6)
                for _ in range(15):
                    listens.append((bob.user_id, rng.choice(by_cluster[1 + week % 2]),
                                    monday + dt.timedelta(hours=rng.uniform(0, 160)), "lastfm"))
            cur.execute("insert into artist (artist_key, name) values ('name:unscanned band', 'Unscanned Band') "
                        "returning artist_id")
            unscanned_artist = cur.fetchone()[0]
            for k in range(4):  # dora: tracks that were never matched to a file nor scored
                cur.execute("insert into track (track_key, name_key, title, artist_id) values (%s, %s, %s, %s) "
                            "returning track_id", (f"name:unscanned {k}", f"unscanned band|tune {k}", f"Tune {k}",
                                                   unscanned_artist))
                tune = cur.fetchone()[0]
                for week in range(6):
                    listens.append((dora.user_id, tune, END - dt.timedelta(weeks=6 - week, hours=k * 5), "listenbrainz"))
            cur.executemany("insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, %s) "
                            "on conflict do nothing", listens)
            cur.executemany("insert into labels_user (user_id, track_id, axis, value, source) values (%s, %s, %s, %s, 'cli')",
                            [(ana.user_id, demo.markers[0], "energy", 0.93), (ana.user_id, demo.markers[1], "valence", 0.12),
                             (ana.user_id, by_cluster[3][0], "energy", 0.88)])
    last = (END - dt.timedelta(days=6)).astimezone(ZoneInfo("Europe/Berlin")).isocalendar()
    demo.mixtape_week = f"{last[0]}-W{last[1]:02d}"
    return demo


def run_dbt(url: str, workdir: Path) -> None:
    p = libpq_params(url)
    env = {**os.environ, "SIDETRACK_PGHOST": p["host"], "SIDETRACK_PGPORT": p["port"],
           "SIDETRACK_PGUSER": p["user"], "SIDETRACK_PGPASSWORD": p["password"],
           "SIDETRACK_PGDATABASE": p["dbname"], "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    cmd = [str(DBT_BIN), "build", "--select", *MARTS, "--indirect-selection", "cautious", "--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR),
           "--target-path", str(workdir / "dbt_target"), "--log-path", str(workdir / "dbt_logs")]
    r = subprocess.run(cmd, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]


def compute_analytics(url: str) -> None:
    """The taste map, clusters and outliers through the analytics functions the Dagster assets
    call (trajectory.update / weekly_positions, clusters.cluster_tracks / dominant_clusters /
    outliers), written to the tables those assets write."""
    import numpy as np
    import pandas as pd

    from sidetrack_pipeline.analytics import clusters, trajectory

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("select track_id, embedding::text from embeddings where model = 'mir-v1' order by track_id")
        rows = cur.fetchall()
        ids = [r[0] for r in rows]
        matrix = np.array([[float(x) for x in r[1].strip("[]").split(",")] for r in rows])
        cur.execute("select user_id, track_id, week, played_at from intermediate.int_listens_local")
        listens = pd.DataFrame(cur.fetchall(), columns=["user_id", "track_id", "week", "played_at"])
        listens["played_at"] = pd.to_datetime(listens["played_at"], utc=True)

        taste_map, xy, _ = trajectory.update(None, ids, matrix, "mir-v1")
        coords = pd.DataFrame({"track_id": ids, "x": xy[:, 0], "y": xy[:, 1]})
        weeks = trajectory.weekly_positions(listens[["user_id", "track_id", "week"]], coords)
        cur.executemany("insert into track_projection (track_id, method, x, y) values (%s, %s, %s, %s)",
                        [(int(t), trajectory.METHOD, float(x), float(y)) for t, x, y in coords.itertuples(index=False)])
        cur.executemany("insert into taste_trajectory_week (user_id, week, method, x, y, listens) "
                        "values (%s, %s, %s, %s, %s, %s)",
                        [(int(r.user_id), r.week, trajectory.METHOD, float(r.x), float(r.y), int(r.listens))
                         for r in weeks.itertuples(index=False)])

        labels = clusters.cluster_tracks(matrix)
        cur.executemany("insert into track_cluster (track_id, method, cluster) values (%s, %s, %s)",
                        [(int(t), clusters.METHOD, int(c)) for t, c in zip(ids, labels)])
        dominant = clusters.dominant_clusters(listens[["user_id", "track_id", "week"]],
                                              pd.DataFrame({"track_id": ids, "cluster": labels}))
        cur.executemany("insert into cluster_week (user_id, week, method, cluster, share) values (%s, %s, %s, %s, %s)",
                        [(int(r.user_id), r.week, clusters.METHOD, int(r.cluster), float(r.share))
                         for r in dominant.itertuples(index=False)])
        found = clusters.outliers(listens[["user_id", "track_id", "played_at"]], ids, matrix, top_n=10)
        rows = [(int(r.user_id), int(r.track_id), clusters.METHOD, r.window_end, float(r.distance), float(r.z),
                 int(r.rank)) for r in found.itertuples(index=False)]
        cur.execute("""select 1 from information_schema.columns where table_name = 'listening_outlier'
                       and column_name = 'week'""")
        if cur.fetchone():  # weekly outliers (migration 0010): these are the users' last weeks'
            last = listens.groupby("user_id")["week"].max().to_dict()
            cur.executemany("insert into listening_outlier (user_id, track_id, method, window_end, distance, z, "
                            "rank, week) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                            [r + (last[r[0]],) for r in rows])
        else:
            cur.executemany("insert into listening_outlier (user_id, track_id, method, window_end, distance, z, "
                            "rank) values (%s, %s, %s, %s, %s, %s, %s)", rows)


def store_weekly_mixtape(url: str, demo: Demo) -> None:
    """ana's stored mixtape of her last week, through build_mixtape + save_mixtape (what the weekly
    pipeline run stores)."""
    from sidetrack_pipeline.analytics.mixtape import build_mixtape, save_mixtape

    with connect(url) as conn:
        mix = build_mixtape(conn, ANA, demo.mixtape_week, minutes=70)
        save_mixtape(conn, demo.users[ANA], mix, 70)


@pytest.fixture(scope="session")
def dashboard_demo(pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    home = tmp_path_factory.mktemp("dashboard-demo")
    url = embedded.ensure_database(pg_admin_uri, f"dash_demo_{os.getpid()}", fresh=True)
    upgrade(url)
    demo = populate(url, home / "library", generate_key())
    run_dbt(url, home)
    compute_analytics(url)
    store_weekly_mixtape(url, demo)
    return demo


@pytest.fixture(scope="session")
def empty_db(pg_admin_uri: str) -> str:
    url = embedded.ensure_database(pg_admin_uri, f"dash_empty_{os.getpid()}", fresh=True)
    upgrade(url)
    return url


def _point_at(monkeypatch: pytest.MonkeyPatch, url: str, home: Path, key: str) -> None:
    monkeypatch.setenv("SIDETRACK_DATABASE_URL", url)
    monkeypatch.setenv("SIDETRACK_HOME", str(home))
    monkeypatch.setenv("SIDETRACK_SECRET_KEY", key)
    monkeypatch.delenv("SIDETRACK_DASHBOARD_USER", raising=False)
    monkeypatch.delenv("LISTENBRAINZ_BASE_URL", raising=False)
    st.cache_data.clear()


@pytest.fixture
def demo_env(dashboard_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> Demo:
    _point_at(monkeypatch, dashboard_demo.url, dashboard_demo.home, dashboard_demo.key)
    yield dashboard_demo
    st.cache_data.clear()


@pytest.fixture
def empty_env(empty_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    _point_at(monkeypatch, empty_db, tmp_path, generate_key())
    yield empty_db
    st.cache_data.clear()


# -- driving the app -------------------------------------------------------------------------

def signed_in(email: str | None) -> AppTest:
    """The app with OIDC configured and `email` signed in (None: nobody signed in)."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.secrets = dict(OIDC_SECRETS)
    at.user = {"is_logged_in": True, "email": email, "email_verified": True} if email else {"is_logged_in": False}
    return at


def local_mode() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.user = {}
    return at


def open_page(at: AppTest, module: str) -> AppTest:
    """Run the entry (first time), then show the page file `module` (a registry entry's
    "views/x.py", or just "x.py")."""
    if not at._registered_pages:  # the navigation registry is known after the first run
        at.run()
    at.switch_page(module if "/" in module else f"views/{module}")
    return at.run()


def rendered_text(at: AppTest) -> str:
    """Everything the run sent to the browser: every element's message (text, options, widget
    values, chart specs, dataframe bytes) plus each dataframe's values as text."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        try:
            value = getattr(node, "value", None)
        except Exception:
            value = None
        if value is not None and not hasattr(value, "to_string"):
            parts.append(str(value))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    for frame in at.dataframe:
        parts.append(frame.value.to_string())
    return "\n".join(parts)


def problems(at: AppTest) -> list[str]:
    """Exceptions and error boxes of the last run."""
    return [e.message if hasattr(e, "message") else str(e.value) for e in at.exception] + \
           [e.value for e in at.error]
