"""The validation set in a fresh embedded database (for experiments that read the database)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psycopg2

from sidetrack_pipeline.db import embedded
from sidetrack_pipeline.db.migrate import upgrade
from sidetrack_pipeline.scoring import store

DB_NAME = "sidetrack_validation"


@contextlib.contextmanager
def validation_database(scored: list, cache: Path):
    """A connection to a freshly created and migrated database holding every validation track
    (one artist per base track and sweep), its features, axis scores and track vectors."""
    pgdata = Path(cache) / "pgdata"
    url = embedded.ensure_database(embedded.start(pgdata), DB_NAME, fresh=True)
    upgrade(url)
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            artists: dict[str, int] = {}
            seen: set[str] = set()
            for item, features, _ in scored:
                if item.key in seen:  # the same spec in two sweeps is one track
                    continue
                seen.add(item.key)
                artist = f"{item.group}:{item.base}"
                if artist not in artists:
                    cur.execute("insert into artist (artist_key, name) values (%s, %s) "
                                "returning artist_id", (f"name:{artist}", artist))
                    artists[artist] = cur.fetchone()[0]
                cur.execute("""insert into track (track_key, name_key, title, artist_id, local_path,
                               fingerprint) values (%s, %s, %s, %s, %s, %s) returning track_id""",
                            (item.key, item.key, item.key, artists[artist],
                             str(item.path(cache)), item.key))
                store.save_features(cur, cur.fetchone()[0], item.key, features)
            store.score_all(cur)
            store.embed_all(cur)
        conn.commit()
        yield conn
    finally:
        conn.close()
