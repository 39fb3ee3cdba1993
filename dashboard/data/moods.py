"""Moods: shares of each dominant lexicon mood per week (mart_mood_shares), or — with artist,
label or source filters — the same shares aggregated in SQL over the filtered listens."""

from __future__ import annotations

import pandas as pd

from dashboard.data import core

LEXICON_METHOD = "zeroshot-musicnn-v1"  # the method mart_mood_shares reads
MAX_OPTIONS = 300


@core.scoped()
def shares(db: str, user_id: int, artists: tuple[str, ...] = (), labels: tuple[str, ...] = (),
           sources: tuple[str, ...] = ()) -> pd.DataFrame:
    """week, mood, listens, share — from the mart without filters."""
    if not (artists or labels or sources):
        return core.scoped_read(db, user_id, """
            select week, mood, listens, share from marts.mart_mood_shares
            where user_id = :user_id order by week, mood""")
    # Same rule as mart_mood_shares (dominant word = the track's highest lexicon score, ties by
    # word), over the user's listens narrowed by the filters.
    return core.scoped_read(db, user_id, """
        with listens as (
            select date_trunc('week', l.played_at at time zone u.timezone)::date as week, l.track_id
            from listen l join users u on u.user_id = l.user_id
            join track t on t.track_id = l.track_id
            join artist a on a.artist_id = t.artist_id
            where l.user_id = :user_id
              and (cardinality(cast(:artists as text[])) = 0 or a.name = any(cast(:artists as text[])))
              and (cardinality(cast(:sources as text[])) = 0 or l.source = any(cast(:sources as text[])))
              and (cardinality(cast(:labels as text[])) = 0 or exists (
                    select 1 from release_label rl join label lb on lb.label_id = rl.label_id
                    where rl.release_id = t.release_id and lb.name = any(cast(:labels as text[]))))),
        dominant as (
            select distinct on (track_id) track_id, word as mood from lexicon_scores
            where method = :method and track_id in (select track_id from listens)
            order by track_id, value desc, word),
        counted as (
            select l.week, d.mood, count(*) as listens
            from listens l join dominant d on d.track_id = l.track_id group by l.week, d.mood)
        select week, mood, listens,
               listens::double precision / sum(listens) over (partition by week) as share
        from counted order by week, mood""",
                            artists=list(artists), labels=list(labels), sources=list(sources),
                            method=LEXICON_METHOD)


@core.scoped()
def filter_options(db: str, user_id: int) -> dict[str, list[str]]:
    """The user's most played artists, their labels, and the sources they listened through."""
    artists = core.scoped_read(db, user_id, """
        select a.name from listen l join track t on t.track_id = l.track_id
        join artist a on a.artist_id = t.artist_id where l.user_id = :user_id
        group by a.name order by count(*) desc, a.name limit :n""", n=MAX_OPTIONS)
    labels = core.scoped_read(db, user_id, """
        select lb.name from (select distinct track_id from listen where user_id = :user_id) l
        join track t on t.track_id = l.track_id
        join release_label rl on rl.release_id = t.release_id join label lb on lb.label_id = rl.label_id
        group by lb.name order by count(*) desc, lb.name limit :n""", n=MAX_OPTIONS)
    sources = core.scoped_read(db, user_id, """
        select distinct source from listen where user_id = :user_id order by source""")
    return {"artists": artists["name"].tolist(), "labels": labels["name"].tolist(),
            "sources": sources["source"].tolist()}
