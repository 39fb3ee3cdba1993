"""A weekly mixtape: 60-90 minutes of local tracks from the cluster the user's week was about.

1. The week (ISO `YYYY-Www`, in the user's time zone) and its listened tracks.
2. The cluster: the week's dominant HDBSCAN cluster (`cluster_week`, written by the weekly
   `cluster_weeks` asset; when that week has no row yet, the same rule, `clusters.dominant_clusters`,
   applied to the stored `track_cluster` labels and the week's listens). The labels come from the
   `track_clusters` asset (HDBSCAN over the standardised mir-v1 vectors of the whole library), so
   the mixtape, the dashboard and cluster_week agree on what "the cluster" is.
   No fallback clustering: when every listen of the week is on HDBSCAN noise there is no dominant
   cluster and no mixtape (MixtapeError; `weekly_mixtapes` records the week as skipped). A
   KMeans of its own would draw from a "cluster" no other part of SideTrack knows.
3. Candidates: the dominant cluster's tracks with a local file and a real duration
   (features.duration_s, else track.duration_ms).
4. Selection: k-medoids on the candidates' vectors (k = target / median duration), medoids
   taken most-central first; a diversity penalty skips near-duplicates (same artist+title, or a
   vector closer than DUPLICATE_FRACTION of the median pairwise distance to one already taken),
   then farthest-point additions / removals bring the total into [MIN_S, MAX_S] near the target.
5. Order: `mixtape_order.order_for_flow` (tempo, Camelot keys, no artist twice in a row).

`save_mixtape` / `save_skipped` store the result (tables mixtape, mixtape_track; migration 0010).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sidetrack_pipeline.analytics import clusters
from sidetrack_pipeline.analytics.mixtape_order import FlowTrack, order_for_flow

MODEL = "mir-v1"
METHOD = "kmedoids-hdbscan-v1"
MIN_S, MAX_S = 60 * 60, 90 * 60
DUPLICATE_FRACTION = 0.15


class MixtapeError(ValueError):
    """No mixtape can be made (no listens that week, too little local music in the cluster...)."""


@dataclass(frozen=True)
class MixTrack:
    track_id: int
    artist: str
    title: str
    recording_mbid: str | None
    path: str
    duration_s: float
    bpm: float | None
    key: str | None
    mode: str | None


@dataclass
class Mixtape:
    user: str
    week: str
    cluster: int
    cluster_size: int
    week_listens: int
    tracks: list[MixTrack]
    monday: dt.date | None = None
    cluster_method: str = clusters.METHOD

    @property
    def total_s(self) -> float:
        return sum(t.duration_s for t in self.tracks)


def week_bounds(week: str, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """'2026-W05' -> [Monday 00:00, next Monday 00:00) in `timezone`, as aware datetimes."""
    try:
        year, w = week.split("-W")
        monday = dt.date.fromisocalendar(int(year), int(w), 1)
    except ValueError:
        raise MixtapeError(f"week must look like 2026-W05, not {week!r}") from None
    tz = ZoneInfo(timezone)
    start = dt.datetime.combine(monday, dt.time(), tz)
    return start, dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tz)


def standardise(vectors: np.ndarray) -> np.ndarray:
    std = vectors.std(axis=0)
    return (vectors - vectors.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)


def _week_listens(conn, user_id: int, start: dt.datetime, end: dt.datetime,
                  cluster_method: str) -> list[tuple[int, int, int]]:
    """(track_id, listens in [start, end), cluster) of the week's tracks that have a cluster label
    (so a vector); raises when there are no labels at all."""
    with conn.cursor() as cur:
        cur.execute("select exists (select 1 from track_cluster where method = %s)", (cluster_method,))
        if not cur.fetchone()[0]:
            raise MixtapeError(f"no track clusters ({cluster_method}) yet: materialise `track_clusters` "
                               "first (sidetrack materialize)")
        cur.execute("""select l.track_id, count(*), c.cluster from listen l
                       join track_cluster c on c.track_id = l.track_id and c.method = %s
                       where l.user_id = %s and l.played_at >= %s and l.played_at < %s
                       group by l.track_id, c.cluster order by l.track_id""",
                    (cluster_method, user_id, start, end))
        return cur.fetchall()


def _cluster_tracks(conn, cluster: int, cluster_method: str):
    """Rows (track_id, artist, title, mbid, path, duration_s, bpm, key, mode, vector) of every
    track of `cluster`."""
    with conn.cursor() as cur:
        cur.execute(
            """select t.track_id, a.name, t.title, t.mbid::text, t.local_path,
                      coalesce(f.duration_s, t.duration_ms / 1000.0), f.bpm, f.key, f.mode, e.embedding::text
               from track_cluster c join track t using (track_id) join artist a using (artist_id)
               join embeddings e on e.track_id = t.track_id and e.model = %s
               left join features f on f.track_id = t.track_id
               where c.method = %s and c.cluster = %s
               order by t.track_id""", (MODEL, cluster_method, cluster))
        return cur.fetchall()


def dominant_cluster(conn, user_id: int, monday: dt.date, week: list[tuple[int, int, int]],
                     cluster_method: str) -> int:
    """The week's dominant cluster: its `cluster_week` row, else the same rule
    (clusters.dominant_clusters) over the week's (track_id, listens, cluster)."""
    with conn.cursor() as cur:
        cur.execute("select cluster from cluster_week where user_id = %s and week = %s and method = %s",
                    (user_id, monday, cluster_method))
        stored = cur.fetchone()
    if stored is not None:
        return int(stored[0])
    listens = pd.DataFrame([(user_id, t, monday) for t, n, _ in week for _ in range(n)],
                           columns=["user_id", "track_id", "week"])
    labels = pd.DataFrame([(t, c) for t, _, c in week], columns=["track_id", "cluster"])
    return int(clusters.dominant_clusters(listens, labels)["cluster"].iloc[0])


def _kmedoids(dist: np.ndarray, k: int, seed: int, iterations: int = 50) -> list[int]:
    """Alternating k-medoids with a k-medoids++ start; medoid indices, most central first."""
    rng = np.random.default_rng(seed)
    n = len(dist)
    medoids = [int(np.argmin(dist.sum(axis=1)))]
    while len(medoids) < k:
        d = dist[:, medoids].min(axis=1) ** 2
        medoids.append(int(rng.choice(n, p=d / d.sum())) if d.sum() > 0 else
                       next(i for i in range(n) if i not in medoids))
    for _ in range(iterations):
        assign = np.argmin(dist[:, medoids], axis=1)
        new = []
        for c, m in enumerate(medoids):
            members = np.flatnonzero(assign == c)
            new.append(int(members[np.argmin(dist[np.ix_(members, members)].sum(axis=1))]) if len(members) else m)
        if new == medoids:
            break
        medoids = new
    return sorted(set(medoids), key=lambda i: (dist[i].sum(), i))


def select(tracks: list[MixTrack], vectors: np.ndarray, target_s: float, seed: int = 0) -> list[MixTrack]:
    """k-medoids picks with a diversity penalty, total in [MIN_S, MAX_S] as near `target_s` as it gets."""
    if sum(t.duration_s for t in tracks) < MIN_S:
        raise MixtapeError(f"the cluster has only {sum(t.duration_s for t in tracks) / 60:.0f} minutes "
                           "of local tracks with a known duration (60 needed)")
    x = standardise(vectors)
    dist = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    near = DUPLICATE_FRACTION * float(np.median(dist[np.triu_indices(len(x), 1)]))
    names = [(t.artist.casefold(), t.title.casefold()) for t in tracks]
    k = max(1, min(len(tracks), round(target_s / float(np.median([t.duration_s for t in tracks])))))
    chosen: list[int] = []

    def fits(i: int) -> bool:
        return i not in chosen and all(dist[i, j] > near and names[i] != names[j] for j in chosen)

    def total() -> float:
        return sum(tracks[i].duration_s for i in chosen)

    for m in _kmedoids(dist, k, seed):
        if fits(m) and total() + tracks[m].duration_s <= target_s + 7.5 * 60:
            chosen.append(m)
    while total() < target_s - 7.5 * 60 or total() < MIN_S:  # farthest point: the most different track left
        options = [i for i in range(len(tracks)) if fits(i) and total() + tracks[i].duration_s <= MAX_S]
        if not options:
            break
        chosen.append(max(options, key=lambda i: (dist[i, chosen].min() if chosen else 0.0, -i)))
    while total() > MAX_S:  # drop the track closest to another one
        chosen.remove(min(chosen, key=lambda i: (min(dist[i, j] for j in chosen if j != i), i)))
    if not MIN_S <= total() <= MAX_S:
        raise MixtapeError(f"could not fill 60-90 minutes from the cluster (got {total() / 60:.0f})")
    return [tracks[i] for i in chosen]


def build_mixtape(conn, user: str, week: str, minutes: float = 75, seed: int = 0,
                  cluster_method: str = clusters.METHOD) -> Mixtape:
    from sidetrack_pipeline.users import get_user

    settings = get_user(conn, user)
    start, end = week_bounds(week, settings.timezone)
    listened = _week_listens(conn, settings.user_id, start, end, cluster_method)
    week_rows = sum(n for _, n, _ in listened)
    if not week_rows:
        raise MixtapeError(f"{user} has no listens with a track vector in {week}")
    monday = start.date()
    cluster = dominant_cluster(conn, settings.user_id, monday, listened, cluster_method)
    if cluster == clusters.NOISE:
        raise MixtapeError(f"every listen of {user}'s {week} is on tracks HDBSCAN left as noise: "
                           "no dominant cluster to draw from")
    rows = _cluster_tracks(conn, cluster, cluster_method)
    cands = [r for r in rows if r[4] and r[5] and r[5] > 0]
    if not cands:
        raise MixtapeError(f"no local tracks with a duration in {user}'s dominant cluster for {week}")
    vectors = np.array([[float(v) for v in r[9].strip("[]").split(",")] for r in cands])
    tracks = [MixTrack(r[0], r[1], r[2], r[3], r[4], float(r[5]), r[6], r[7], r[8]) for r in cands]
    picked = select(tracks, vectors, minutes * 60, seed)
    try:
        order = order_for_flow([FlowTrack(t.artist, t.bpm, t.key, t.mode) for t in picked])
    except ValueError as exc:  # one artist fills most of the picks
        raise MixtapeError(str(exc)) from None
    return Mixtape(user, week, cluster, len(rows), week_rows, [picked[i] for i in order], monday,
                   cluster_method)


# --- storage (tables mixtape, mixtape_track) -------------------------------------------------

def _replace(cur, user_id: int, monday: dt.date, method: str) -> None:
    cur.execute("delete from mixtape where user_id = %s and week = %s and method = %s", (user_id, monday, method))


def save_mixtape(conn, user_id: int, mix: Mixtape, target_minutes: float, method: str = METHOD) -> int:
    """Store `mix` as the user's mixtape of its week (replacing one stored before); its id."""
    from psycopg2.extras import execute_values

    with conn.cursor() as cur:
        _replace(cur, user_id, mix.monday, method)
        cur.execute("""insert into mixtape (user_id, week, method, status, cluster_method, cluster, cluster_size,
                                            week_listens, target_minutes, minutes, tracks)
                       values (%s, %s, %s, 'ok', %s, %s, %s, %s, %s, %s, %s) returning mixtape_id""",
                    (user_id, mix.monday, method, mix.cluster_method, mix.cluster, mix.cluster_size,
                     mix.week_listens, target_minutes, mix.total_s / 60, len(mix.tracks)))
        mixtape_id = cur.fetchone()[0]
        execute_values(cur, """insert into mixtape_track (mixtape_id, position, track_id, duration_s, bpm, key, mode)
                               values %s""",
                       [(mixtape_id, n, t.track_id, t.duration_s, t.bpm, t.key, t.mode)
                        for n, t in enumerate(mix.tracks, 1)])
    return mixtape_id


def save_skipped(conn, user_id: int, monday: dt.date, reason: str, target_minutes: float,
                 method: str = METHOD) -> int:
    """Record that no mixtape could be made for the user's week, and why (replacing one stored before)."""
    with conn.cursor() as cur:
        _replace(cur, user_id, monday, method)
        cur.execute("""insert into mixtape (user_id, week, method, status, reason, target_minutes)
                       values (%s, %s, %s, 'skipped', %s, %s) returning mixtape_id""",
                    (user_id, monday, method, reason, target_minutes))
        return cur.fetchone()[0]
