"""A weekly mixtape: 60-90 minutes of local tracks from the cluster the user's week was about.

1. The week (ISO `YYYY-Www`, in the user's time zone) and its listened tracks.
2. Clusters: `kmeans_clusters` groups the standardised mir-v1 vectors of the user's recent tracks
   (LOOKBACK_WEEKS up to the week's end) and of the local library; k by silhouette, fixed seed.
   Any `Clusterer` (track_ids, vectors) -> labels can replace it (e.g. a stored cluster table).
   The dominant cluster is the one most of the week's listens fall in.
3. Candidates: the dominant cluster's tracks with a local file and a real duration
   (features.duration_s, else track.duration_ms).
4. Selection: k-medoids on the candidates' vectors (k = target / median duration), medoids
   taken most-central first; a diversity penalty skips near-duplicates (same artist+title, or a
   vector closer than DUPLICATE_FRACTION of the median pairwise distance to one already taken),
   then farthest-point additions / removals bring the total into [MIN_S, MAX_S] near the target.
5. Order: `mixtape_order.order_for_flow` (tempo, Camelot keys, no artist twice in a row).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from sidetrack_pipeline.analytics.mixtape_order import FlowTrack, order_for_flow

MODEL = "mir-v1"
LOOKBACK_WEEKS = 12
MIN_S, MAX_S = 60 * 60, 90 * 60
DUPLICATE_FRACTION = 0.15
Clusterer = Callable[[list[int], np.ndarray], np.ndarray]


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


def kmeans_clusters(track_ids: list[int], vectors: np.ndarray, seed: int = 0, max_k: int = 8) -> np.ndarray:
    """KMeans on standardised vectors, k in 2..max_k by silhouette; deterministic for a seed."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = standardise(vectors)
    if len(x) < 4:
        return np.zeros(len(x), dtype=int)
    best = None
    for k in range(2, min(max_k, len(x) - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
        score = silhouette_score(x, labels)
        if best is None or score > best[0] + 1e-12:
            best = (score, labels)
    return best[1]


def _load(conn, user_id: int, start: dt.datetime, end: dt.datetime):
    """Rows (track_id, week_listens, artist, title, mbid, path, duration_s, bpm, key, mode, vector)."""
    with conn.cursor() as cur:
        cur.execute(
            """with recent as (
                   select track_id, count(*) filter (where played_at >= %(start)s) as week_listens
                   from listen where user_id = %(user)s and played_at < %(end)s
                     and played_at >= %(start)s - %(lookback)s * interval '1 week'
                   group by track_id),
               pool as (
                   select track_id, coalesce(max(week_listens), 0) as week_listens from (
                       select track_id, week_listens from recent
                       union all select track_id, 0 from track where local_path is not null) u
                   group by track_id)
               select t.track_id, p.week_listens, a.name, t.title, t.mbid::text, t.local_path,
                      coalesce(f.duration_s, t.duration_ms / 1000.0), f.bpm, f.key, f.mode,
                      e.embedding::text
               from pool p join track t using (track_id) join artist a using (artist_id)
               join embeddings e on e.track_id = t.track_id and e.model = %(model)s
               left join features f on f.track_id = t.track_id
               order by t.track_id""",
            {"user": user_id, "start": start, "end": end, "lookback": LOOKBACK_WEEKS, "model": MODEL})
        return cur.fetchall()


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
                  clusterer: Clusterer | None = None) -> Mixtape:
    from sidetrack_pipeline.users import get_user

    settings = get_user(conn, user)
    start, end = week_bounds(week, settings.timezone)
    rows = _load(conn, settings.user_id, start, end)
    week_rows = sum(r[1] for r in rows)
    if not week_rows:
        raise MixtapeError(f"{user} has no listens with a track vector in {week}")
    ids = [r[0] for r in rows]
    vectors = np.array([[float(v) for v in r[10].strip("[]").split(",")] for r in rows])
    labels = (clusterer or (lambda i, v: kmeans_clusters(i, v, seed=seed)))(ids, vectors)
    weight = Counter()
    for r, label in zip(rows, labels):
        weight[int(label)] += r[1]
    cluster = min(weight, key=lambda c: (-weight[c], c))
    members = [i for i, label in enumerate(labels) if int(label) == cluster]
    cands = [i for i in members if rows[i][5] and rows[i][6] and rows[i][6] > 0]
    if not cands:
        raise MixtapeError(f"no local tracks with a duration in {user}'s dominant cluster for {week}")
    tracks = [MixTrack(rows[i][0], rows[i][2], rows[i][3], rows[i][4], rows[i][5], float(rows[i][6]),
                       rows[i][7], rows[i][8], rows[i][9]) for i in cands]
    picked = select(tracks, vectors[cands], minutes * 60, seed)
    order = order_for_flow([FlowTrack(t.artist, t.bpm, t.key, t.mode) for t in picked])
    return Mixtape(user, week, cluster, len(members), week_rows, [picked[i] for i in order])
