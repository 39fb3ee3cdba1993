"""A realistic listening catalogue for the mixtape tests, written into a real database.

Features and mir-v1 vectors are inserted directly (not rendered/analysed): tracks of 2:50-7:10,
BPM 78-165, keys over the whole Camelot wheel, vectors = a cluster centre + noise (CLUSTERS
well-separated sound clusters), local files under `library`. User 'ana' lives in
America/New_York; in 2026-W05 (her week) most listens are cluster 0. Forty cluster-1 listens fall
on Sunday 25 Jan late evening in New York, which is already Monday 26 Jan (W05) in UTC, so a
mixtape that ignores the time zone would pick cluster 1.

Cluster 0 also holds: two tracks without a local file, two without any duration, and a near
duplicate ("... (Remaster)", the same artist, a vector 0.001 away from its original).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from sidetrack_pipeline.users import Secret, set_user

CLUSTERS, PER_CLUSTER, ARTISTS_PER_CLUSTER, DIM = 4, 28, 7, 16
NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TZ = ZoneInfo("America/New_York")
WEEK = "2026-W05"  # Monday 26 Jan 2026 .. Sunday 1 Feb 2026


def _vec(v) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in v) + "]"


def build(conn, library: Path, token: str, key: str, seed: int = 7) -> dict:
    rng, prng = np.random.default_rng(seed), random.Random(seed)
    library.mkdir(parents=True, exist_ok=True)
    user = set_user(conn, "ana", timezone="America/New_York", listenbrainz_user="ana",
                    listenbrainz_token=Secret(token), key=key)
    centres = rng.normal(scale=3.0, size=(CLUSTERS, DIM))
    out = {"cluster": {}, "no_file": set(), "no_duration": set(), "duplicate": None,
           "duration": {}, "mbid": {}, "artist": {}}
    with conn.cursor() as cur:
        def track(c: int, artist: str, title: str, v, *, path=True, duration=True) -> int:
            cur.execute("insert into artist (artist_key, name) values (%s, %s) on conflict (artist_key)"
                        " do update set name = excluded.name returning artist_id",
                        (f"name:{artist.lower()}", artist))
            aid = cur.fetchone()[0]
            mbid = str(uuid.UUID(int=prng.getrandbits(128), version=4)) if prng.random() < 0.7 else None
            cur.execute("""insert into track (track_key, name_key, title, artist_id, mbid)
                           values (%s, %s, %s, %s, %s) returning track_id""",
                        (f"name:{artist.lower()}|{title.lower()}", f"{artist.lower()}|{title.lower()}",
                         title, aid, mbid))
            tid = cur.fetchone()[0]
            seconds = prng.uniform(170, 430)
            if path:
                file = library / f"{tid:04d} {artist} - {title}.flac"
                file.write_bytes(b"fLaC" + bytes(64))
                cur.execute("update track set local_path = %s where track_id = %s", (str(file), tid))
            else:
                out["no_file"].add(tid)
            if not duration:
                out["no_duration"].add(tid)
            cur.execute("""insert into features (track_id, content_hash, analyzer_version, duration_s,
                                                 bpm, bpm_confidence, key, mode, key_confidence)
                           values (%s, %s, 'test', %s, %s, 0.9, %s, %s, 0.8)""",
                        (tid, f"hash{tid}", seconds if duration else None, round(prng.uniform(78, 165), 1),
                         prng.choice(NOTES), prng.choice(("major", "minor"))))
            cur.execute("insert into embeddings (track_id, model, dim, embedding) values (%s, 'mir-v1', %s, %s::vector)",
                        (tid, DIM, _vec(v)))
            out["cluster"][tid], out["artist"][tid], out["mbid"][tid] = c, artist, mbid
            if duration:
                out["duration"][tid] = seconds
            return tid

        by_cluster: dict[int, list[int]] = {}
        for c in range(CLUSTERS):
            ids = by_cluster.setdefault(c, [])
            for k in range(PER_CLUSTER):
                v = centres[c] + rng.normal(scale=0.4, size=DIM)
                ids.append(track(c, f"Artist {c}-{k % ARTISTS_PER_CLUSTER}", f"Song {c}-{k}", v,
                                 path=not (c == 0 and k in (3, 4)), duration=not (c == 0 and k in (5, 6))))
                if c == 0 and k == 0:
                    out["original"] = ids[0]
                    out["duplicate"] = track(0, "Artist 0-0", "Song 0-0 (Remaster)", v + 0.001)
                    ids.append(out["duplicate"])

        def listen(tid: int, local: dt.datetime) -> None:
            cur.execute("insert into listen (user_id, track_id, played_at, source) values (%s, %s, %s, 'listenbrainz')"
                        " on conflict do nothing", (user.user_id, tid, local))

        monday = dt.datetime(2026, 1, 26, tzinfo=TZ)
        for n in range(30):  # the week: cluster 0 dominates
            listen(prng.choice(by_cluster[0]), monday + dt.timedelta(hours=8 + 5 * n, minutes=n))
        for n in range(12):
            listen(prng.choice(by_cluster[1]), monday + dt.timedelta(hours=10 + 11 * n))
        for n in range(6):
            listen(prng.choice(by_cluster[2]), monday + dt.timedelta(hours=12 + 20 * n))
        sunday_late = dt.datetime(2026, 1, 25, 21, 0, tzinfo=TZ)  # 02:00 UTC Monday
        for n in range(40):
            listen(by_cluster[1][n % PER_CLUSTER], sunday_late + dt.timedelta(minutes=2 * n + 1))
        for n in range(60):  # earlier weeks: everything
            listen(prng.choice(by_cluster[n % CLUSTERS]), monday - dt.timedelta(days=2 + n % 50, hours=n))
    out["week_listens"] = 48
    return out
