"""Migrations go up and down cleanly, and the schema keeps its promises."""

from __future__ import annotations

import psycopg2
import pytest

from sidetrack_pipeline.db.migrate import downgrade, upgrade


def _tables(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select tablename from pg_tables where schemaname = 'public' order by 1")
        return [r[0] for r in cur.fetchall()]


def test_downgrade_to_base_and_up_again(db_url):
    before = _tables(db_url)
    assert {"listen", "track", "embeddings", "mood_scores", "model_tags"} <= set(before)
    downgrade(db_url, "base")
    assert _tables(db_url) == ["alembic_version"]
    upgrade(db_url)
    assert _tables(db_url) == before


def test_same_listen_cannot_be_stored_twice(db_url):
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("insert into users (user_name) values ('u') returning user_id")
        user = cur.fetchone()[0]
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') returning artist_id")
        artist = cur.fetchone()[0]
        cur.execute("insert into track (track_key, name_key, title, artist_id) values ('name:a|t', 'a|t', 'T', %s) "
                    "returning track_id", (artist,))
        track = cur.fetchone()[0]
        row = (user, track, "2024-01-01 10:00:00+00", "listenbrainz")
        cur.execute("insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, %s)", row)
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute("insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, %s)", row)


def test_embedding_dimension_is_checked_and_indexed(db_url):
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("""select indexname from pg_indexes where tablename = 'embeddings' and indexdef like '%hnsw%'""")
        assert {"embeddings_mir_v1_hnsw", "embeddings_msd_musicnn_hnsw"} <= {r[0] for r in cur.fetchall()}
        cur.execute("insert into artist (artist_key, name) values ('name:a', 'A') returning artist_id")
        artist = cur.fetchone()[0]
        cur.execute("insert into track (track_key, name_key, title, artist_id) values ('name:a|t', 'a|t', 'T', %s) "
                    "returning track_id", (artist,))
        track = cur.fetchone()[0]
        with pytest.raises(psycopg2.errors.CheckViolation):
            cur.execute("insert into embeddings (track_id, model, dim, embedding) values (%s, 'x', 3, '[1,2]')", (track,))
