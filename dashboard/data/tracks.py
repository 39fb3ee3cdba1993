"""Track: search among the tracks this user may see, features, axis scores with their explanation
(sidetrack_pipeline.scoring.explain), and nearest neighbours by sound."""

from __future__ import annotations

import re

import pandas as pd

from dashboard.data import core
from dashboard.scope import UserScope

FEATURE_FIELDS = ("duration_s", "bpm", "key", "mode", "loudness_lufs", "spectral_centroid_hz", "onset_rate",
                  "stereo_width", "pumpiness", "danceability", "dynamic_complexity")


@core.scoped()
def search(db: str, user_id: int, text: str, limit: int = 20) -> pd.DataFrame:
    """Visible tracks whose "artist - title" contains `text`; the user's own plays first."""
    return core.scoped_read(db, user_id, f"""
        select t.track_id, a.name as artist, t.title,
               (select count(*) from listen pl where pl.user_id = :user_id and pl.track_id = t.track_id) as plays
        from track t join artist a on a.artist_id = t.artist_id
        where (a.name || ' - ' || t.title) ilike :pattern and {core.VISIBLE_TRACK}
        order by plays desc, a.name, t.title limit :n""",
                            pattern=f"%{text.strip()}%", n=int(limit))


@core.scoped()
def recent(db: str, user_id: int, limit: int = 20) -> pd.DataFrame:
    """The user's most recently played tracks (the default choice)."""
    return core.scoped_read(db, user_id, """
        select r.track_id, a.name as artist, t.title, r.plays from (
            select track_id, count(*) as plays, max(played_at) as last_played from (
                select track_id, played_at from listen where user_id = :user_id
                order by played_at desc limit 500) x group by track_id) r
        join track t on t.track_id = r.track_id join artist a on a.artist_id = t.artist_id
        order by r.last_played desc limit :n""", n=int(limit))


def visible(scope: UserScope, track_id: int) -> bool:
    return bool(_visible(scope, int(track_id)))


@core.scoped()
def _visible(db: str, user_id: int, track_id: int) -> bool:
    return not core.scoped_read(db, user_id, f"""
        select 1 from track t where t.track_id = :track_id and {core.VISIBLE_TRACK}""",
                                track_id=track_id).empty


@core.scoped()
def details(db: str, user_id: int, track_id: int) -> dict | None:
    df = core.scoped_read(db, user_id, f"""
        select t.track_id, a.name as artist, t.title, t.mbid::text as recording_mbid,
               t.local_path is not null as has_file,
               (select count(*) from listen pl where pl.user_id = :user_id and pl.track_id = t.track_id) as plays,
               {", ".join("f." + c for c in FEATURE_FIELDS)}
        from track t join artist a on a.artist_id = t.artist_id
        left join features f on f.track_id = t.track_id
        where t.track_id = :track_id and {core.VISIBLE_TRACK}""", track_id=int(track_id))
    return None if df.empty else df.iloc[0].to_dict()


@core.scoped()
def explanation(db: str, user_id: int, track_id: int):
    """explain_track's result, with neighbours this user may not see reduced to "another track"."""
    from sidetrack_pipeline.db.connection import connect
    from sidetrack_pipeline.scoring.explain import explain_track

    if not _visible.__wrapped__(db, user_id, track_id):
        return None
    with connect(db) as conn:
        result = explain_track(conn, int(track_id))
    named = {int(m.group(1)) for ax in result.axes for c in ax.contributions
             if c.kind == "neighbour" and (m := re.search(r"\(track (\d+)\)$", c.name))}
    allowed = set()
    if named:
        allowed = set(core.scoped_read(db, user_id, f"""
            select t.track_id from track t where t.track_id = any(:ids) and {core.VISIBLE_TRACK}""",
                                       ids=sorted(named))["track_id"].tolist())
    for ax in result.axes:
        for c in ax.contributions:
            m = re.search(r"\(track (\d+)\)$", c.name) if c.kind == "neighbour" else None
            if m and int(m.group(1)) not in allowed:
                c.name = "a track from another listener's history"
    return result


@core.scoped()
def neighbours(db: str, user_id: int, track_id: int, k: int = 10) -> pd.DataFrame:
    """The k visible tracks nearest in sound ('mir-v1' vectors, standardised by pgvector L2)."""
    return core.scoped_read(db, user_id, f"""
        with me as (select embedding from embeddings where track_id = :track_id and model = 'mir-v1')
        select t.track_id, a.name as artist, t.title, e.embedding <-> me.embedding as distance
        from me, embeddings e join track t on t.track_id = e.track_id join artist a on a.artist_id = t.artist_id
        where e.model = 'mir-v1' and e.track_id <> :track_id and {core.VISIBLE_TRACK}
        order by e.embedding <-> me.embedding limit :k""", track_id=int(track_id), k=int(k))
