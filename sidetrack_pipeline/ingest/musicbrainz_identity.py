"""Give a track the recording MBID MusicBrainz says it is, keeping the catalogue's keys unique.

A track found by search (or whose MBID MusicBrainz has since merged into another) takes the
key `mbid:<recording>`. When another track already holds that recording, the two are one
recording: like `library.reconcile_catalogue`, the found track is merged into the one that
holds the MBID — listens (the same play twice becomes one), user labels and other sources' tags
move over; its local file moves too when the other track has none, with what was computed from
that file (features, embeddings, scores, projections, file match, analysis errors). What is
left (MusicBrainz metadata, graph edges) is rebuilt for the surviving track.

A table that references `track` without `on delete cascade` and is not listed here makes the
merge fail instead of losing rows: the caller records the item as an error.
"""

from __future__ import annotations

# (table, columns that must not collide once track_id is changed)
_ALWAYS_MOVED = (("labels_user", ("user_id", "axis", "source")), ("track_tag", ("tag_id", "source")))
_FILE_DERIVED = (("features", ()), ("embeddings", ("model",)), ("mood_scores", ("axis", "method")),
                 ("track_projection", ("method",)), ("file_match", ()), ("analysis_error", None))


def _move_rows(cur, table: str, unique_columns: tuple[str, ...] | None, src: int, dst: int) -> None:
    if unique_columns is None:  # no uniqueness per track: move everything
        cur.execute(f"update {table} set track_id = %s where track_id = %s", (dst, src))
        return
    same = "".join(f" and o.{c} = t.{c}" for c in unique_columns)
    cur.execute(f"""update {table} t set track_id = %s where t.track_id = %s
                    and not exists (select 1 from {table} o where o.track_id = %s{same})""", (dst, src, dst))


def merge_track_into(cur, src: int, dst: int) -> None:
    """Move what belongs to track `src` onto track `dst`, then delete `src`."""
    cur.execute("""delete from listen l where l.track_id = %s and exists (
                       select 1 from listen o where o.user_id = l.user_id and o.track_id = %s
                       and o.played_at = l.played_at)""", (src, dst))
    cur.execute("update listen set track_id = %s where track_id = %s", (dst, src))
    for table, columns in _ALWAYS_MOVED:
        _move_rows(cur, table, columns, src, dst)
    cur.execute("select track_id, local_path, fingerprint from track where track_id in (%s, %s)", (src, dst))
    files = {track_id: (path, digest) for track_id, path, digest in cur.fetchall()}
    if files[src][0] and not files[dst][0]:
        cur.execute("update track set local_path = null, fingerprint = null where track_id = %s", (src,))
        cur.execute("update track set local_path = %s, fingerprint = %s where track_id = %s",
                    files[src] + (dst,))
        for table, columns in _FILE_DERIVED:
            _move_rows(cur, table, columns, src, dst)
    cur.execute("delete from track where track_id = %s", (src,))


def adopt_mbid(cur, track_id: int, mbid: str) -> tuple[int, bool]:
    """Make `track_id` the track of recording `mbid`. Returns (the surviving track, merged?)."""
    cur.execute("""select track_id from track where (track_key = %s or mbid = %s) and track_id <> %s
                   order by track_key = %s desc, track_id limit 1 for update""",
                (f"mbid:{mbid}", mbid, track_id, f"mbid:{mbid}"))
    row = cur.fetchone()
    if row is None:
        cur.execute("update track set mbid = %s, track_key = %s, updated_at = now() where track_id = %s",
                    (mbid, f"mbid:{mbid}", track_id))
        return track_id, False
    merge_track_into(cur, track_id, row[0])
    return row[0], True
