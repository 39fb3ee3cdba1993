"""The embedded PostgreSQL 16 + pgvector server (pgserver), owned by whoever starts it first.

pgserver runs postgres on a Unix socket only. We start it with `cleanup_mode=None`, so it
outlives the process that started it (the CLI, a Dagster run, a test session); every other
process just reads `postmaster.pid` and connects through the socket. `stop()` stops it.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)
# pgserver keeps a lock file in the user's runtime dir; without XDG_RUNTIME_DIR (cron, containers,
# root shells) platformdirs falls back to /tmp/runtime-<uid> and warns about it on every import.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "sidetrack"


def _running_uri(pgdata: Path) -> str | None:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return info.get_uri(database="postgres")
    return None


def start(pgdata: Path) -> str:
    """Start the server for `pgdata` unless it runs already; return a URI for the `postgres` db."""
    uri = _running_uri(pgdata)
    if uri:
        return uri
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root, pgserver makes every parent of pgdata world-traversable (o+rx) for its
        # `pgserver` user. Refuse to do that to a home directory.
        home = Path.home().resolve()
        if home != Path("/") and (pgdata.resolve() == home or home in pgdata.resolve().parents):
            raise RuntimeError(
                f"Refusing to put the embedded database under the home directory {home} as root: "
                "pgserver would make it world-readable. Set SIDETRACK_HOME elsewhere "
                "(the default as root is /var/lib/sidetrack)."
            )
    import pgserver

    log.info("starting embedded PostgreSQL in %s", pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri(database="postgres")


def stop(pgdata: Path) -> bool:
    """Stop the server for `pgdata`; return False when none was running."""
    if _running_uri(pgdata) is None:
        return False
    from pgserver._commands import pg_ctl

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    return True


def ensure_database(admin_uri: str, name: str = DATABASE_NAME, fresh: bool = False) -> str:
    """Create database `name` if missing (`fresh`: drop it first); return its URI."""
    import psycopg2

    conn = psycopg2.connect(admin_uri)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if fresh:
                cur.execute(f'drop database if exists "{name}"')
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{name}"')
    finally:
        conn.close()
    return admin_uri.replace("/postgres?", f"/{name}?", 1)
