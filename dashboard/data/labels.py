"""Labels: the active-learning queue (calibration_store.label_suggestions) and the user's labels."""

from __future__ import annotations

import pandas as pd

from dashboard.data import core
from dashboard.scope import UserScope

SOURCE = "dashboard"
OVERSAMPLE = 5  # suggestions are drawn from every track; ask for more and keep the visible ones


@core.scoped(ttl=600)
def suggestions(db: str, user_id: int, axis: str, k: int = 8) -> pd.DataFrame:
    from sidetrack_pipeline.db.connection import connect
    from sidetrack_pipeline.scoring.calibration_store import label_suggestions

    user_name = core.user_name(db, user_id)
    with connect(db) as conn:
        picks = label_suggestions(conn, user_name, axis, k=k * OVERSAMPLE)
    frame = pd.DataFrame([p.__dict__ for p in picks],
                         columns=["track_id", "artist", "title", "uncertainty", "predicted", "reason"])
    if frame.empty:
        return frame
    ok = set(core.scoped_read(db, user_id, f"""
        select t.track_id from track t where t.track_id = any(:ids) and {core.VISIBLE_TRACK}""",
                              ids=[int(t) for t in frame.track_id])["track_id"].tolist())
    return frame[frame.track_id.isin(ok)].head(k).reset_index(drop=True)


@core.scoped(ttl=30)
def my_labels(db: str, user_id: int, limit: int = 50) -> pd.DataFrame:
    return core.scoped_read(db, user_id, """
        select l.created_at, l.axis, a.name as artist, t.title, l.value, l.source
        from labels_user l join track t on t.track_id = l.track_id join artist a on a.artist_id = t.artist_id
        where l.user_id = :user_id order by l.created_at desc, l.label_id desc limit :n""", n=int(limit))


@core.scoped(ttl=30)
def counts(db: str, user_id: int) -> pd.DataFrame:
    return core.scoped_read(db, user_id, """
        select axis, count(*) as labels from labels_user where user_id = :user_id group by axis order by axis""")


def add(scope: UserScope, track_id: int, axis: str, value: float) -> None:
    from sidetrack_pipeline.scoring.calibration_store import add_label
    from dashboard.data import tracks

    if not tracks.visible(scope, track_id):
        raise LookupError(f"no track with id {track_id}")
    with core.connection(scope) as conn:
        add_label(conn, scope.user_name, int(track_id), axis, float(value), source=SOURCE)
    my_labels.clear_cache()
    counts.clear_cache()
    suggestions.clear_cache()
