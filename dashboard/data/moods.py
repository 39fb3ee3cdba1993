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
    """The user's most played artists and labels, and the sources they listened through. Plays
    are counted per track first (an index-only scan of listen's (user, track, time) key), then
    rolled up to the few thousand tracks' artists and labels."""
    per_track = """with per_track as (
            select track_id, count(*) as plays from listen where user_id = :user_id group by track_id)"""
    artists = core.scoped_read(db, user_id, per_track + """
        select a.name from per_track p join track t on t.track_id = p.track_id
        join artist a on a.artist_id = t.artist_id
        group by a.name order by sum(p.plays) desc, a.name limit :n""", n=MAX_OPTIONS)
    labels = core.scoped_read(db, user_id, per_track + """
        select lb.name from per_track p join track t on t.track_id = p.track_id
        join release_label rl on rl.release_id = t.release_id join label lb on lb.label_id = rl.label_id
        group by lb.name order by sum(p.plays) desc, lb.name limit :n""", n=MAX_OPTIONS)
    sources = core.scoped_read(db, user_id, """
        select s.source from (values ('listenbrainz'), ('lastfm')) as s(source)
        where exists (select 1 from listen l where l.user_id = :user_id and l.source = s.source)
        order by s.source""")
    return {"artists": artists["name"].tolist(), "labels": labels["name"].tolist(),
            "sources": sources["source"].tolist()}
