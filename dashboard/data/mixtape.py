"""Mixtape: sidetrack_pipeline.analytics.mixtape.build_mixtape for this user, its exports
(mixtape_export) and the push to ListenBrainz with the user's own stored token."""

from __future__ import annotations

import json
import os

from dashboard.data import core
from dashboard.scope import UserScope


@core.scoped()
def weeks(db: str, user_id: int, limit: int = 104) -> list[str]:
    """ISO weeks (YYYY-Www, in the user's zone) with listens, newest first."""
    df = core.scoped_read(db, user_id, """
        select week, listens from marts.mart_listens_week where user_id = :user_id
        order by week desc limit :n""", n=int(limit))
    return [f"{w.isocalendar()[0]}-W{w.isocalendar()[1]:02d}" for w in df["week"]]


@core.scoped(ttl=900)
def build(db: str, user_id: int, week: str, minutes: float):
    """The Mixtape (dataclass) or the MixtapeError's message as a str."""
    from sidetrack_pipeline.analytics.mixtape import MixtapeError, build_mixtape
    from sidetrack_pipeline.db.connection import connect

    name = core.user_name(db, user_id)
    try:
        with connect(db) as conn:
            return build_mixtape(conn, name, week, minutes=minutes)
    except MixtapeError as exc:
        return str(exc)


def m3u(mix) -> str:
    from sidetrack_pipeline.analytics.mixtape_export import to_m3u

    return to_m3u(mix)


def jspf(mix, public: bool = False) -> tuple[str, list]:
    from sidetrack_pipeline.analytics.mixtape_export import to_jspf

    doc, left_out = to_jspf(mix, public=public)
    return json.dumps(doc, indent=2), left_out


def camelot(key, mode) -> str:
    from sidetrack_pipeline.analytics.mixtape_order import camelot_label

    return camelot_label(key, mode)


def push(scope: UserScope, mix, public: bool = False) -> str:
    """Create the playlist on ListenBrainz with this user's token; its URL. Raises with a message."""
    from sidetrack_pipeline.analytics.mixtape_export import to_jspf
    from sidetrack_pipeline.sources.listenbrainz_api import DEFAULT_BASE_URL, ListenBrainzClient
    from sidetrack_pipeline.users import get_user

    if mix.user != scope.user_name:
        raise PermissionError("this mixtape belongs to another user")
    with core.connection(scope) as conn:
        token = get_user(conn, scope.user_name).listenbrainz_token(conn)
    if token is None:
        raise LookupError("no ListenBrainz token is stored: connect ListenBrainz in Settings first")
    doc, _ = to_jspf(mix, public=public)
    if not doc["playlist"]["track"]:
        raise ValueError("no track of this mixtape has a MusicBrainz recording id; nothing to push")
    base = os.environ.get("LISTENBRAINZ_BASE_URL") or DEFAULT_BASE_URL
    with ListenBrainzClient(base) as client:
        mbid = client.create_playlist(token.reveal(), doc)
    return f"https://listenbrainz.org/playlist/{mbid}"


@core.scoped(ttl=30)
def _local_files(db: str, user_id: int, track_ids: tuple[int, ...]) -> dict[int, tuple]:
    df = core.scoped_read(db, user_id, f"""
        select t.track_id, t.local_path, f.bpm, f.key, f.mode from track t
        left join features f on f.track_id = t.track_id
        where t.track_id = any(:ids) and {core.VISIBLE_TRACK}""", ids=list(track_ids))
    return {int(r.track_id): (r.local_path, r.bpm, r.key, r.mode) for r in df.itertuples(index=False)}


def picks_mixtape(scope: UserScope, picked: dict[int, dict]):
    """The session's picks as a Mixtape (so the same M3U/JSPF export and push apply)."""
    from sidetrack_pipeline.analytics.mixtape import Mixtape, MixTrack

    files = _local_files(scope, tuple(sorted(picked)))
    tracks = []
    for tid, t in picked.items():
        path, bpm, key, mode = files.get(tid, (None, None, None, None))
        tracks.append(MixTrack(track_id=tid, artist=t["artist"], title=t["title"],
                               recording_mbid=t["recording_mbid"], path=path or "",
                               duration_s=float(t["duration_s"] or 0), bpm=bpm, key=key, mode=mode))
    return Mixtape(user=scope.user_name, week="picks", cluster=-1, cluster_size=len(tracks),
                   week_listens=0, tracks=tracks)


def _monday(week: str):
    import datetime as dt

    year, number = week.split("-W")
    return dt.date.fromisocalendar(int(year), int(number), 1)


@core.scoped()
def _saved(db: str, user_id: int, week: str) -> dict | None:
    """The weekly mixtape the pipeline stored for this user's week (tables mixtape, mixtape_track)."""
    try:
        head = core.scoped_read(db, user_id, """
            select mixtape_id, status, reason, minutes, tracks, cluster, week_listens, created_at
            from mixtape where user_id = :user_id and week = :week order by created_at desc limit 1""",
                                week=_monday(week))
    except core.MartsMissing:  # a database before migration 0010
        return None
    if head.empty:
        return None
    row = head.iloc[0].to_dict()
    row["tracks"] = core.scoped_read(db, user_id, """
        select mt.position, mt.track_id, a.name as artist, t.title, t.mbid::text as recording_mbid,
               t.local_path as path, mt.duration_s, mt.bpm, mt.key, mt.mode
        from mixtape m join mixtape_track mt on mt.mixtape_id = m.mixtape_id
        join track t on t.track_id = mt.track_id join artist a on a.artist_id = t.artist_id
        where m.user_id = :user_id and m.mixtape_id = :id order by mt.position""",
                                     id=int(row["mixtape_id"])).to_dict("records")
    return row


def saved(scope: UserScope, week: str):
    """The stored weekly mixtape as a Mixtape (for the same preview and exports), the reason the
    pipeline gave for skipping the week (str), or None when nothing is stored."""
    from sidetrack_pipeline.analytics.mixtape import Mixtape, MixTrack

    row = _saved(scope, week)
    if row is None:
        return None
    if row["status"] != "ok":
        return str(row["reason"] or "no reason recorded")
    tracks = [MixTrack(track_id=int(t["track_id"]), artist=t["artist"], title=t["title"],
                       recording_mbid=t["recording_mbid"], path=t["path"] or "", duration_s=float(t["duration_s"]),
                       bpm=t["bpm"], key=t["key"], mode=t["mode"]) for t in row["tracks"]]
    return Mixtape(user=scope.user_name, week=week, cluster=int(row["cluster"]) if row["cluster"] is not None else -1,
                   cluster_size=0, week_listens=int(row["week_listens"] or 0), tracks=tracks)
