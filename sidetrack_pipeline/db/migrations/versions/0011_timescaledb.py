"""TimescaleDB when the server has it: the extension, and `listen` as a hypertable on played_at.

A no-op without TimescaleDB (the embedded pgserver has none): nothing is created, nothing fails,
and every query works the same on the plain table.

0001 already tries this when the first migration runs. This revision covers the databases it
could not: one that gained TimescaleDB later (an embedded database restored into the compose
deployment's `timescale/timescaledb-ha` server, or the extension installed after the first
migration). It also gives the hypertable yearly chunks, whoever made it: a listening history is
a few hundred rows a week spanning decades, and the marts read all of it, so a handful of large
chunks beats 0001's default of one chunk per week (over a thousand for 20 years). Existing
chunks keep their size; only new ones follow.

TimescaleDB requires the partitioning column in every unique key. listen's are
(listen_id, played_at) and listen_once (user_id, played_at, track_id), since 0006; a key without
played_at would stop this migration with a message naming it, rather than half-convert the table.

Installed but not preloaded (`shared_preload_libraries` lacks timescaledb) counts as absent:
CREATE EXTENSION would fail there, so the migration logs why and changes nothing.

Downgrade leaves the hypertable in place: turning it back into a plain table means copying every
row, and the plain-table code paths work on a hypertable anyway.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TABLE = "listen"
TIME_COLUMN = "played_at"
CHUNK_INTERVAL = "365 days"


class TimescaleState(NamedTuple):
    """What the server offers and what the database already has (a NamedTuple: Alembic loads
    revision files outside sys.modules, where dataclasses cannot resolve annotations)."""

    available: bool                 # listed in pg_available_extensions
    preloaded: bool                 # in shared_preload_libraries (CREATE EXTENSION needs it)
    installed: bool                 # CREATE EXTENSION done in this database
    hypertable: bool                # listen is a hypertable already
    unique_keys: dict[str, tuple[str, ...]]  # listen's unique constraints/indexes -> columns


class HypertableBlocked(RuntimeError):
    """listen has a unique key TimescaleDB cannot partition (it lacks played_at)."""


def plan(state: TimescaleState) -> list[str]:
    """The statements that bring the database to the target state (empty: nothing to do)."""
    if not state.available:
        return []
    if not state.preloaded and not state.installed:
        return []
    statements = []
    if not state.installed:
        statements.append("create extension if not exists timescaledb")
    if state.hypertable:
        statements.append(f"select set_chunk_time_interval('{TABLE}', interval '{CHUNK_INTERVAL}')")
        return statements
    blocking = {name: cols for name, cols in state.unique_keys.items() if TIME_COLUMN not in cols}
    if blocking:
        raise HypertableBlocked(
            f"cannot make {TABLE} a hypertable: TimescaleDB needs {TIME_COLUMN} in every unique key, "
            + "; ".join(f"{name} is ({', '.join(cols)})" for name, cols in sorted(blocking.items())))
    statements.append(
        f"select create_hypertable('{TABLE}', '{TIME_COLUMN}', "
        f"chunk_time_interval => interval '{CHUNK_INTERVAL}', "
        "migrate_data => true, if_not_exists => true)")
    return statements


def read_state(conn) -> TimescaleState:
    """Inspect the server and the database (read-only) through a SQLAlchemy connection."""
    scalar = lambda sql, **kw: conn.execute(sa.text(sql), kw).scalar()  # noqa: E731
    available = bool(scalar("select count(*) from pg_available_extensions where name = 'timescaledb'"))
    preload = scalar("select current_setting('shared_preload_libraries', true)") or ""
    preloaded = "timescaledb" in {lib.strip() for lib in preload.split(",")}
    installed = bool(scalar("select count(*) from pg_extension where extname = 'timescaledb'"))
    hypertable = installed and bool(scalar(
        "select count(*) from timescaledb_information.hypertables "
        "where hypertable_schema = current_schema() and hypertable_name = :t", t=TABLE))
    rows = conn.execute(sa.text("""
        select i.relname, array_agg(a.attname::text order by k.ord)
        from pg_index x
        join pg_class t on t.oid = x.indrelid
        join pg_class i on i.oid = x.indexrelid
        cross join lateral unnest(x.indkey) with ordinality as k(attnum, ord)
        join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
        where t.oid = to_regclass(:t) and x.indisunique
        group by i.relname
    """), {"t": TABLE}).all()
    return TimescaleState(available, preloaded, installed, hypertable,
                          {name: tuple(cols) for name, cols in rows})


def upgrade() -> None:
    state = read_state(op.get_bind())
    if state.available and not state.preloaded and not state.installed:
        log.warning("TimescaleDB is installed on the server but not in shared_preload_libraries: "
                    "%s stays a plain table", TABLE)
    for statement in plan(state):
        op.execute(statement)


def downgrade() -> None:
    pass
