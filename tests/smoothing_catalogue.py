"""Synthetic catalogues for the fusion/smoothing/explain tests, written into a real database.

`clustered`: CLUSTERS sound-alike groups. Each cluster has a centre in the 16-d mir-v1 vector
space and a centre on every axis; a track's vector and scores are its cluster's centre plus
small noise, so audio neighbours are informative. Per cluster one regular artist (5 tracks on
one release) and a long tail of one-track artists (no artist information to pool from).

`random`: the same shape, but vectors, scores and artists are drawn independently: audio
neighbours and artists say nothing about a track's scores.

Every track is listened to; a few extra listened tracks have no evidence and no vector.
"""

from __future__ import annotations

import random

import numpy as np
from psycopg2.extras import execute_values

from sidetrack_pipeline.scoring.axes import AXES

CLUSTERS = 8
REGULAR_TRACKS = 5
TAIL_TRACKS = 10
DIM = 16


def _vec(v) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in v) + "]"


def build(conn, kind: str = "clustered", seed: int = 3, bare_tracks: int = 3) -> dict:
    """Write the catalogue; returns {'tracks': [...ids], 'bare': [...], 'cluster': {id: c}, 'names': {id: (artist, title)}}."""
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    centres_v = rng.normal(size=(CLUSTERS, DIM))
    centres_s = rng.uniform(0.1, 0.9, size=(CLUSTERS, len(AXES)))
    out = {"tracks": [], "bare": [], "cluster": {}, "names": {}}
    with conn.cursor() as cur:
        cur.execute("insert into users (user_name) values ('listener') returning user_id")
        user_id = cur.fetchone()[0]

        def artist(name):
            cur.execute("insert into artist (artist_key, name) values (%s, %s) returning artist_id",
                        (f"name:{name.lower()}", name))
            return cur.fetchone()[0]

        def release(title, artist_id):
            cur.execute("insert into release (release_key, title, artist_id) values (%s, %s, %s) returning release_id",
                        (f"name:{title.lower()}", title, artist_id))
            return cur.fetchone()[0]

        def track(artist_id, artist_name, title, release_id):
            cur.execute("""insert into track (track_key, name_key, title, artist_id, release_id)
                           values (%s, %s, %s, %s, %s) returning track_id""",
                        (f"name:{artist_name.lower()}|{title.lower()}", f"{artist_name.lower()}|{title.lower()}",
                         title, artist_id, release_id))
            tid = cur.fetchone()[0]
            out["names"][tid] = (artist_name, title)
            cur.execute("insert into listen (user_id, track_id, played_at, source) values (%s, %s, now() - %s * interval '1 hour', 'listenbrainz')",
                        (user_id, tid, len(out["names"])))
            return tid

        scores, vectors = [], []
        n = CLUSTERS * (REGULAR_TRACKS + TAIL_TRACKS)
        random_artists = [artist(f"Shuffle Artist {a}") for a in range(CLUSTERS * 3)] if kind == "random" else []
        for c in range(CLUSTERS):
            regular_name = f"Regular {c}"
            regular = artist(regular_name)
            rel = release(f"Album {c}", regular)
            members = [(regular, regular_name, rel) for _ in range(REGULAR_TRACKS)]
            for k in range(TAIL_TRACKS):
                name = f"Tail {c}-{k}"
                members.append((artist(name), name, None))
            for k, (aid, aname, rid) in enumerate(members):
                if kind == "random":
                    aid = prng.choice(random_artists)
                    aname, rid = f"Shuffle Artist {random_artists.index(aid)}", None
                tid = track(aid, aname, f"Song {c}-{k}", rid)
                out["tracks"].append(tid)
                out["cluster"][tid] = c
                if kind == "clustered":
                    v = centres_v[c] + rng.normal(scale=0.25, size=DIM)
                    s = np.clip(centres_s[c] + rng.normal(scale=0.05, size=len(AXES)), 0, 1)
                else:
                    v = rng.normal(size=DIM)
                    s = rng.uniform(0.1, 0.9, size=len(AXES))
                vectors.append((tid, "mir-v1", DIM, _vec(v)))
                scores += [(tid, axis, "mir-v1", float(x), 0.9, "audio") for axis, x in zip(AXES, s)]
        assert len(out["tracks"]) == n
        for b in range(bare_tracks):
            name = f"Unknown {b}"
            out["bare"].append(track(artist(name), name, f"Lost {b}", None))
        execute_values(cur, "insert into embeddings (track_id, model, dim, embedding) values %s",
                       vectors, template="(%s, %s, %s, %s::vector)")
        execute_values(cur, """insert into mood_scores (track_id, axis, method, value, confidence, provenance)
                               values %s""", scores)
    return out
