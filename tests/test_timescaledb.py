"""Migration 0011 (TimescaleDB): a no-op on a server without it, the right statements with it.

The embedded pgserver has no TimescaleDB, so the no-op path runs for real here; the path with
TimescaleDB is checked through the statements `plan` generates from each server state.
"""

from __future__ import annotations

import importlib.util

import psycopg2
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from sidetrack_pipeline.db.connection import sqlalchemy_url
from sidetrack_pipeline.db.migrate import MIGRATIONS_DIR, alembic_config


def _load_0011():
    path = next((MIGRATIONS_DIR / "versions").glob("0011_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


m0011 = _load_0011()
State = m0011.TimescaleState
KEYS_SINCE_0006 = {"listen_pkey": ("listen_id", "played_at"),
                   "listen_once": ("user_id", "played_at", "track_id")}


def test_0011_follows_0010_in_a_single_line_of_revisions():
    script = ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x"))
    assert script.get_heads() == [script.get_current_head()]  # never two heads
    rev = script.get_revision("0011")
    assert rev.down_revision == "0010"
    assert script.get_revision(rev.down_revision) is not None


def test_without_timescaledb_the_migration_reads_the_server_and_changes_nothing(db_url):
    with sa.create_engine(sqlalchemy_url(db_url)).connect() as conn:
        state = m0011.read_state(conn)
    assert state.available is False and state.installed is False and state.hypertable is False
    # the real unique keys of listen, as the hypertable check sees them
    assert state.unique_keys == KEYS_SINCE_0006
    assert m0011.plan(state) == []
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("select version_num from alembic_version")
        assert cur.fetchone()[0] == ScriptDirectory.from_config(
            alembic_config(db_url)).get_current_head()
        cur.execute("select count(*) from pg_extension where extname = 'timescaledb'")
        assert cur.fetchone()[0] == 0
        cur.execute("select relkind from pg_class where oid = 'listen'::regclass")
        assert cur.fetchone()[0] == "r"  # still a plain table


def test_available_and_preloaded_creates_the_extension_and_the_hypertable():
    state = State(available=True, preloaded=True, installed=False, hypertable=False,
                  unique_keys=KEYS_SINCE_0006)
    assert m0011.plan(state) == [
        "create extension if not exists timescaledb",
        "select create_hypertable('listen', 'played_at', chunk_time_interval => interval '365 days', "
        "migrate_data => true, if_not_exists => true)",
    ]


def test_extension_already_there_only_converts_the_table():
    state = State(True, True, installed=True, hypertable=False, unique_keys=KEYS_SINCE_0006)
    assert [s.split("(")[0] for s in m0011.plan(state)] == ["select create_hypertable"]


def test_existing_hypertable_only_gets_yearly_chunks():
    state = State(True, True, installed=True, hypertable=True, unique_keys=KEYS_SINCE_0006)
    assert m0011.plan(state) == ["select set_chunk_time_interval('listen', interval '365 days')"]


def test_available_but_not_preloaded_is_left_alone():
    state = State(available=True, preloaded=False, installed=False, hypertable=False,
                  unique_keys=KEYS_SINCE_0006)
    assert m0011.plan(state) == []


def test_a_unique_key_without_played_at_stops_the_conversion_by_name():
    keys = dict(KEYS_SINCE_0006, listen_msid_key=("recording_msid",))
    state = State(True, True, installed=True, hypertable=False, unique_keys=keys)
    with pytest.raises(m0011.HypertableBlocked, match=r"listen_msid_key is \(recording_msid\)"):
        m0011.plan(state)
