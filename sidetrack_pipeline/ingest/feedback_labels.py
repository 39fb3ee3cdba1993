"""ListenBrainz loved/hated feedback → user labels (`labels_user`, axis 'preference').

Loved is 1.0, hated 0.0; a withdrawn feedback (score 0) deletes the label. A feedback names a
recording by MBID (matched to `track.mbid`) or by MSID (matched through the user's own listens
of that MSID); the MBID is tried first. An importer that has just read the listens passes the
MSIDs it saw (`msid_tracks`), which spares a scan of all the user's listens for those. Several lines for one track: the newest (by `created`,
then by line) decides. A feedback that matches no track is not guessed at: it is counted as
unmatched and its line is kept in `listen_reject`, so a later import can still place it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sidetrack_pipeline.ingest.copy_rows import copy_into, copy_line
from sidetrack_pipeline.sources.listenbrainz_export import Rejected
from sidetrack_pipeline.sources.listenbrainz_feedback import Feedback

AXIS = "preference"
SOURCE = "listenbrainz_feedback"
UNKNOWN_RECORDING = "feedback for unknown recording"

_TABLES = """
create temp table if not exists feedback_batch (
    line_no int primary key, score int not null, mbid uuid, msid text, created bigint
) on commit drop;
create temp table if not exists feedback_match (line_no int not null, track_id int not null)
    on commit drop;
create temp table if not exists feedback_msid_track (msid text not null, track_id int not null)
    on commit drop;
truncate feedback_batch, feedback_match, feedback_msid_track;
"""

# Temp tables have no statistics until analysed; without them the planner picks nested loops.
_MATCH = """
insert into feedback_match (line_no, track_id)
select f.line_no, t.track_id from feedback_batch f join track t on t.mbid = f.mbid;
analyze feedback_match;
insert into feedback_match (line_no, track_id)
select distinct f.line_no, k.track_id
from feedback_batch f join feedback_msid_track k on k.msid = f.msid
where not exists (select 1 from feedback_match m where m.line_no = f.line_no);
analyze feedback_match;
"""

# Only for MSIDs still unplaced: this walks every listen of the user.
_MATCH_BY_LISTENS = """
insert into feedback_match (line_no, track_id)
select distinct f.line_no, l.track_id
from feedback_batch f join listen l on l.user_id = %(user)s and l.recording_msid = f.msid
where not exists (select 1 from feedback_match m where m.line_no = f.line_no)
"""

_UNPLACED_MSIDS = """
select exists (select 1 from feedback_batch f
               where f.msid is not null
                 and not exists (select 1 from feedback_match m where m.line_no = f.line_no))
"""

# The newest feedback per track decides: a label for a score of 1 or -1, none for 0.
_LATEST = """
create temp table feedback_latest on commit drop as
select distinct on (m.track_id) m.track_id, f.score, f.created
from feedback_match m join feedback_batch f using (line_no)
order by m.track_id, f.created desc nulls last, f.line_no desc
"""

_UPSERT = """
insert into labels_user (user_id, track_id, axis, value, source, created_at)
select %(user)s, track_id, %(axis)s, case when score = 1 then 1.0 else 0.0 end, %(source)s,
       coalesce(to_timestamp(created), now())
from feedback_latest where score <> 0
on conflict (user_id, track_id, axis, source) do update
    set value = excluded.value, created_at = excluded.created_at
    where (labels_user.value, labels_user.created_at)
          is distinct from (excluded.value, excluded.created_at)
"""

_DELETE_WITHDRAWN = """
delete from labels_user
where user_id = %(user)s and axis = %(axis)s and source = %(source)s
  and track_id = any(array(select track_id from feedback_latest where score = 0))
"""


@dataclass
class FeedbackReport:
    loved: int = 0
    hated: int = 0
    withdrawn: int = 0
    unmatched: int = 0
    unmatched_lines: list[Rejected] = field(default_factory=list)


def store_feedback(cur, user_id: int, feedback: list[Feedback],
                   msid_tracks: dict[str, int] | None = None) -> FeedbackReport:
    """Label the tracks `feedback` names; report what matched and what did not."""
    report = FeedbackReport()
    if not feedback:
        return report
    params = {"user": user_id, "axis": AXIS, "source": SOURCE}
    cur.execute(_TABLES)
    copy_into(cur, "feedback_batch", ("line_no", "score", "mbid", "msid", "created"),
              "".join(copy_line(f.line_no, f.score, f.recording_mbid, f.recording_msid, f.created)
                      for f in feedback))
    copy_into(cur, "feedback_msid_track", ("msid", "track_id"),
              "".join(copy_line(msid, track_id) for msid, track_id in (msid_tracks or {}).items()))
    cur.execute("analyze feedback_batch")
    cur.execute(_MATCH, params)
    cur.execute(_UNPLACED_MSIDS)
    if cur.fetchone()[0]:
        cur.execute(_MATCH_BY_LISTENS, params)
    cur.execute("select distinct line_no from feedback_match")
    matched = {line_no for (line_no,) in cur.fetchall()}
    cur.execute("drop table if exists feedback_latest")
    cur.execute(_LATEST)
    cur.execute("analyze feedback_latest")
    cur.execute(_UPSERT, params)
    cur.execute(_DELETE_WITHDRAWN, params)
    for f in feedback:
        if f.line_no not in matched:
            report.unmatched += 1
            report.unmatched_lines.append(Rejected(f.file, f.line_no, UNKNOWN_RECORDING, f.raw))
        elif f.score == 1:
            report.loved += 1
        elif f.score == -1:
            report.hated += 1
        else:
            report.withdrawn += 1
    return report
