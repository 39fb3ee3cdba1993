"""How much of what you listen to is in your local library, and which files are worth adding."""

from __future__ import annotations

from dataclasses import dataclass, field

# Tracks the user (or anyone, when %(user)s is null) listened to, with their listen counts.
_LISTENED = """
    with listened as (
        select track_id, count(*) as listens from listen
        where %(user)s::int is null or user_id = %(user)s::int
        group by track_id)
"""


@dataclass(frozen=True)
class MissingTrack:
    artist: str
    title: str
    listens: int


@dataclass
class MatchRateReport:
    user_name: str | None                 # None: every user together
    listened_tracks: int = 0
    tracks_with_file: int = 0
    listens: int = 0
    listens_with_file: int = 0
    by_method: dict[str, int] = field(default_factory=dict)   # listened tracks with a file, per method
    top_missing: list[MissingTrack] = field(default_factory=list)

    @property
    def track_rate(self) -> float:
        """Share of listened tracks that have a local file (0.0 without listens)."""
        return self.tracks_with_file / self.listened_tracks if self.listened_tracks else 0.0

    @property
    def listen_rate(self) -> float:
        """Share of listens whose track has a local file (0.0 without listens)."""
        return self.listens_with_file / self.listens if self.listens else 0.0


def match_report(conn, user_name: str | None = None, top: int = 20) -> MatchRateReport:
    """Match rate of `user_name`'s listening (everyone's when None) after `match_files`, with the
    `top` most-listened tracks that have no file: the files worth adding."""
    if top < 0:
        raise ValueError(f"top must be 0 or more, not {top}")
    report = MatchRateReport(user_name)
    with conn.cursor() as cur:
        user_id = None
        if user_name is not None:
            cur.execute("select user_id from users where user_name = %s", (user_name,))
            row = cur.fetchone()
            if row is None:
                raise ValueError(f"unknown user {user_name!r}")
            user_id = row[0]
        params = {"user": user_id, "top": top}
        cur.execute(_LISTENED + """
            select count(*), count(m.track_id), coalesce(sum(l.listens), 0),
                   coalesce(sum(l.listens) filter (where m.track_id is not null), 0)
            from listened l left join file_match m using (track_id)""", params)
        (report.listened_tracks, report.tracks_with_file,
         report.listens, report.listens_with_file) = (int(v) for v in cur.fetchone())
        cur.execute(_LISTENED + """
            select m.method, count(*) from listened l join file_match m using (track_id)
            group by m.method order by m.method""", params)
        report.by_method = dict(cur.fetchall())
        cur.execute(_LISTENED + """
            select a.name, t.title, l.listens::int from listened l
            join track t using (track_id) join artist a on a.artist_id = t.artist_id
            where not exists (select 1 from file_match m where m.track_id = l.track_id)
            order by l.listens desc, a.name, t.title, l.track_id limit %(top)s""", params)
        report.top_missing = [MissingTrack(*row) for row in cur.fetchall()]
    return report
