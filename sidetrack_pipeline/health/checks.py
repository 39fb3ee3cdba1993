"""Data checks on the tables the pipeline writes. Each function reads, never writes, and returns
a CheckOutcome: passed or not, one line saying why, and numbers worth keeping as metadata.

The database's own constraints already forbid some of these states (a listen stored twice, a
score outside 0–1); the checks look at what is stored, so a database restored from an old dump,
a constraint dropped by hand or a bug in a later migration still shows up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sidetrack_pipeline.ingest.listen_writer import PARITY_WINDOW_S
from sidetrack_pipeline.scoring import axes, vectors

# Every table of 0–1 scores: (table, what one score is about).
SCORE_TABLES = (("mood_scores", "track axis"), ("lexicon_scores", "track word"),
                ("user_track_scores", "personal axis"))


@dataclass
class CheckOutcome:
    passed: bool
    summary: str
    metadata: dict = field(default_factory=dict)


def duplicate_listens(conn, window_s: int = PARITY_WINDOW_S) -> CheckOutcome:
    """No play stored twice: the same user, track and second (exact), or the same user and
    track from two sources within the parity window (a ListenBrainz and a Last.fm copy of one
    play that merging should have kept once)."""
    with conn.cursor() as cur:
        cur.execute("""
            with ordered as (
                select user_id, played_at, source,
                       lag(played_at) over w as previous_at, lag(source) over w as previous_source
                from listen window w as (partition by user_id, track_id order by played_at, source))
            select count(*) filter (where played_at = previous_at),
                   count(*) filter (where played_at - previous_at < make_interval(secs => %(window)s)
                                      and source <> previous_source and played_at <> previous_at),
                   (select count(*) from listen)
            from ordered where previous_at is not null""", {"window": window_s})
        exact, cross_source, total = cur.fetchone()
    passed = exact == 0 and cross_source == 0
    found = [f"{exact} exact duplicates"] * bool(exact) + \
        [f"{cross_source} cross-source copies within {window_s} s"] * bool(cross_source)
    summary = f"{total} listens, no duplicates" if passed else " and ".join(found)
    return CheckOutcome(passed, summary, {"listens": total, "exact_duplicates": exact,
                                          "cross_source_duplicates": cross_source})


def scores_in_unit_interval(conn, tables: tuple[str, ...] = tuple(t for t, _ in SCORE_TABLES)) -> CheckOutcome:
    """Every stored score and confidence in `tables` is a number in [0, 1] (NaN counts as outside)."""
    unknown = set(tables) - {t for t, _ in SCORE_TABLES}
    if unknown:
        raise ValueError(f"not a score table: {sorted(unknown)}")
    bad: dict[str, int] = {}
    totals: dict[str, int] = {}
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"""
                select count(*) filter (where not (value between 0 and 1) or value = 'NaN'
                                           or not (confidence between 0 and 1) or confidence = 'NaN'),
                       count(*)
                from {table}""")
            bad[table], totals[table] = cur.fetchone()
    outside = sum(bad.values())
    summary = (f"{sum(totals.values())} scores, all within 0–1" if outside == 0 else
               "scores outside 0–1: " + ", ".join(f"{t} {n}" for t, n in bad.items() if n))
    return CheckOutcome(outside == 0, summary, {**{f"{t}_rows": n for t, n in totals.items()},
                                                **{f"{t}_outside": n for t, n in bad.items()}})


def axis_scores_complete(conn) -> CheckOutcome:
    """Every track with current features has all ten audio axes (method mir-v2)."""
    with conn.cursor() as cur:
        cur.execute("""
            select count(*), count(*) filter (where n < %(axes)s)
            from (select f.track_id, count(distinct m.axis) filter (where m.axis = any(%(names)s)) as n
                  from features f
                  left join mood_scores m on m.track_id = f.track_id and m.method = %(method)s
                  group by f.track_id) per_track""",
                    {"axes": len(axes.AXES), "names": list(axes.AXES), "method": axes.METHOD})
        analysed, incomplete = cur.fetchone()
    summary = (f"{analysed} analysed tracks, each with all {len(axes.AXES)} axes" if incomplete == 0
               else f"{incomplete} of {analysed} analysed tracks lack some of the {len(axes.AXES)} axes")
    return CheckOutcome(incomplete == 0, summary, {"analysed_tracks": analysed,
                                                   "tracks_missing_axes": incomplete})


def analysis_coverage(conn, analyzer_version: str) -> CheckOutcome:
    """Every matched local file is analysed with the current analyser or has its failure on
    record (nothing silently left out), with the share of listens whose track is analysed."""
    with conn.cursor() as cur:
        cur.execute("""
            select count(*),
                   count(*) filter (where f.track_id is not null),
                   count(*) filter (where f.track_id is null and e.path is not null)
            from track t
            left join features f on f.track_id = t.track_id and f.content_hash = t.fingerprint
                                and f.analyzer_version = %(v)s
            left join analysis_error e on e.path = t.local_path and e.content_hash = t.fingerprint
                                      and e.analyzer_version = %(v)s
            where t.local_path is not null""", {"v": analyzer_version})
        matched, analysed, failed = cur.fetchone()
        cur.execute("""
            select count(*), count(*) filter (where exists (
                       select 1 from features f where f.track_id = l.track_id))
            from listen l""")
        listens, listens_analysed = cur.fetchone()
    missing = matched - analysed - failed
    share = listens_analysed / listens if listens else 0.0
    summary = (f"{analysed} of {matched} local files analysed, {failed} failed (on record); "
               f"{share:.0%} of listens have audio features")
    if missing:
        summary = f"{missing} matched files neither analysed nor failed; " + summary
    return CheckOutcome(missing == 0, summary, {
        "matched_files": matched, "analysed_files": analysed, "failed_files": failed,
        "files_missing": missing, "listen_coverage": round(share, 4)})


def vectors_complete(conn) -> CheckOutcome:
    """Every analysed track has its handcrafted vector, of the right dimension."""
    with conn.cursor() as cur:
        cur.execute("""
            select count(*), count(e.track_id), count(*) filter (where e.dim <> %(dim)s)
            from features f left join embeddings e on e.track_id = f.track_id and e.model = %(model)s""",
                    {"model": vectors.MODEL, "dim": vectors.DIM})
        analysed, with_vector, wrong_dim = cur.fetchone()
    missing = analysed - with_vector
    passed = missing == 0 and wrong_dim == 0
    summary = (f"{with_vector} of {analysed} analysed tracks have a {vectors.MODEL} vector"
               + (f"; {wrong_dim} of the wrong dimension" if wrong_dim else ""))
    return CheckOutcome(passed, summary, {"analysed_tracks": analysed, "missing_vectors": missing,
                                          "wrong_dimension": wrong_dim})


def listens_fresh(conn, max_age: dt.timedelta, now: dt.datetime | None = None) -> CheckOutcome:
    """Each user with a listening source configured had a successful sync within `max_age`."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with conn.cursor() as cur:
        cur.execute("""
            select u.user_name, max(r.finished_at) filter (where r.status = 'ok')
            from users u
            left join user_settings s on s.user_id = u.user_id
            left join sync_run r on r.user_id = u.user_id
            where s.listenbrainz_user is not null or s.lastfm_user is not null
            group by u.user_name order by u.user_name""")
        rows = cur.fetchall()
    stale = {name: (f"{last.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC" if last else "never")
             for name, last in rows
             if last is None or now - last > max_age}
    if not rows:
        return CheckOutcome(True, "no user has a listening source to sync", {"users_with_sources": 0})
    summary = (f"{len(rows)} users synced within {max_age}" if not stale else
               "stale: " + ", ".join(f"{n} (last ok sync {t})" for n, t in stale.items()))
    return CheckOutcome(not stale, summary, {"users_with_sources": len(rows), "stale_users": len(stale),
                                             "max_age_minutes": int(max_age.total_seconds() // 60)})


def marts_current(conn) -> CheckOutcome:
    """The weekly overview reaches each user's latest listening week (in their time zone)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('marts.mart_overview_week') is not null")
        if not cur.fetchone()[0]:
            return CheckOutcome(False, "marts.mart_overview_week does not exist (dbt not run)", {})
        cur.execute("""
            with latest as (
                select u.user_id, u.user_name,
                       date_trunc('week', max(l.played_at) at time zone
                           (case when u.timezone in (select name from pg_catalog.pg_timezone_names)
                                 then u.timezone else 'UTC' end))::date as week
                from listen l join users u using (user_id) group by u.user_id, u.user_name),
            built as (select user_id, max(week)::date as week from marts.mart_overview_week
                      group by user_id)
            select latest.user_name, latest.week, built.week
            from latest left join built using (user_id)
            where built.week is null or built.week < latest.week""")
        behind = cur.fetchall()
    summary = ("every user's latest week is in the marts" if not behind else
               "behind: " + ", ".join(f"{n} (listens to {w}, marts to {b or 'nothing'})" for n, w, b in behind))
    return CheckOutcome(not behind, summary, {"users_behind": len(behind)})
