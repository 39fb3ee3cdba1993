"""Shared fixtures: one real embedded PostgreSQL (pgserver + pgvector) for the whole session.

Each test that needs a database gets a fresh, migrated database on that server, so tests are
independent and nothing is mocked.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Dagster step retries of the web-API assets wait 0 s here (30 s, doubling, in production): the
# policy is built when the definitions are imported, so this must precede every test module.
os.environ.setdefault("API_RETRY_DELAY_SECONDS", "0")

from sidetrack_pipeline.models.musicnn.fetch import WHEEL_NAME, download_wheel, fetch_musicnn
from sidetrack_pipeline.models.registry import is_cached

from sidetrack_pipeline.db import embedded
from sidetrack_pipeline.db.migrate import upgrade

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest runs a page as `__main__` and leaves it in sys.modules; every later
    'spawn' child (the analysis pool, the rate-limit processes) would then re-run the dashboard
    instead of starting. Put pytest's own __main__ back after each test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def pg_root() -> Path:
    # Outside any home directory: as root, pgserver opens the parents of its data dir (o+rx).
    root = Path(tempfile.mkdtemp(prefix="sidetrack-test-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)  # after pg_admin_uri has stopped the server


@pytest.fixture(scope="session")
def pg_admin_uri(pg_root: Path) -> str:
    pgdata = pg_root / "pgdata"
    uri = embedded.start(pgdata)
    yield uri
    embedded.stop(pgdata)


def _create_db(admin_uri: str, name: str) -> str:
    return embedded.ensure_database(admin_uri, name, fresh=True)


@pytest.fixture
def db_url(pg_admin_uri: str) -> str:
    """A freshly migrated, empty database for one test."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    url = _create_db(pg_admin_uri, name)
    upgrade(url)
    yield url
    _drop_db(pg_admin_uri, name)


def _drop_db(admin_uri: str, name: str) -> None:
    """Free the test database's disk (a session creates hundreds); connections left open by the
    code under test are closed by FORCE. A failure here only costs disk, never a test."""
    import psycopg2

    try:
        conn = psycopg2.connect(admin_uri)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        conn.close()
    except psycopg2.Error:
        pass


@pytest.fixture
def sidetrack_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every SideTrack setting at this test's database and a private home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SIDETRACK_HOME", str(home))
    monkeypatch.setenv("SIDETRACK_DATABASE_URL", db_url)
    monkeypatch.setenv("TORCH_DEVICE", "cpu")
    return home


# Real musicnn weights: the wheel is downloaded from the package index once and kept under /tmp.
MODELS_TEST_CACHE = Path(tempfile.gettempdir()) / "sidetrack-test-models"


@pytest.fixture(scope="session")
def musicnn_wheel() -> Path:
    """The musicnn 0.1.0 wheel, downloaded with pip once and kept under /tmp."""
    folder = MODELS_TEST_CACHE / "wheel"
    wheel = folder / WHEEL_NAME
    if not wheel.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        wheel = download_wheel(folder, MODELS_TEST_CACHE)
    return wheel


@pytest.fixture(scope="session")
def models_cache(musicnn_wheel: Path) -> Path:
    """A filled model cache: $SIDETRACK_MODELS_DIR when set, else one under /tmp."""
    cache = Path(os.environ.get("SIDETRACK_MODELS_DIR") or MODELS_TEST_CACHE / "cache")
    if not all(is_cached(name, cache) for name in ("msd-musicnn", "mtt-musicnn")):
        fetch_musicnn(cache, wheel=musicnn_wheel)
    return cache


# Tables whose row counts the demo fixture records after each of its two runs (idempotence).
DEMO_TABLES = ("users", "artist", "release", "track", "listen", "listen_import", "audio_file", "features",
               "analysis_error", "embeddings", "model_tags", "mood_scores", "track_projection",
               "taste_trajectory_week", "marts.mart_mood_week", "marts.mart_change_points",
               "marts.mart_overview", "marts.mart_listens_week")


@dataclass
class DemoSession:
    url: str                      # the demo's database
    home: Path                    # its SIDETRACK_HOME
    env: dict[str, str]           # the environment the demo ran with (set it again to use the data)
    summaries: list = field(default_factory=list)   # run_demo's summary of each run
    counts: list = field(default_factory=list)      # {table: rows} after each run


@pytest.fixture(scope="session")
def demo_session(pg_admin_uri, tmp_path_factory, models_cache) -> DemoSession:
    """`sidetrack demo`'s pipeline, run twice into its own database, once per test session: the
    end-to-end tests and the browser test share it (the demo is the slowest thing the suite does).
    The environment is restored afterwards; tests set `env` again to read the demo's data."""
    from sidetrack_pipeline.db import connect
    from sidetrack_pipeline.demo.run import run_demo

    url = _create_db(pg_admin_uri, f"demo_{os.getpid()}")
    home = tmp_path_factory.mktemp("demo-home")
    env = {"SIDETRACK_HOME": str(home), "SIDETRACK_DATABASE_URL": url, "DAGSTER_HOME": str(home / "dagster"),
           "TORCH_DEVICE": "auto", "ANALYSIS_WORKERS": "2", "SIDETRACK_MODELS_DIR": str(models_cache)}
    session = DemoSession(url, home, env)
    saved = dict(os.environ)   # run_demo sets AUDIO_ROOT and drops some variables itself
    try:
        os.environ.update(env)
        os.environ.pop("EMBEDDING_MODEL", None)   # the default: both musicnn vocabularies
        for _ in range(2):
            session.summaries.append(run_demo(echo=lambda *_: None))
            with connect(url) as conn, conn.cursor() as cur:
                snapshot = {}
                for table in DEMO_TABLES:
                    cur.execute(f"select count(*) from {table}")
                    snapshot[table] = cur.fetchone()[0]
                session.counts.append(snapshot)
        env["AUDIO_ROOT"] = os.environ["AUDIO_ROOT"]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return session
