"""Write one MusicBrainz recording (and its chosen release) into the catalogue.

Everything is replaced, not appended, so storing the same answer twice changes nothing:
artist credits (`track_artist`, artists by MBID with sort name, type and country), the track's
release (release group, date, country) and its labels, tags and genres (`track_tag` /
`artist_tag`, source 'musicbrainz', weight = count / the entity's highest count), and the
recording's relations to other recordings and works (`recording_relation`).

The recording's ISRCs are added to the track's (listens and files may have brought others).
The track's `name_key` is left as it was: it is how listens without an MBID find the track.
"""

from __future__ import annotations

from psycopg2.extras import execute_values

SOURCE = "musicbrainz"
# Which release of a recording represents it: official first, then a plain album over an EP or
# single, releases without secondary types (compilation, live, soundtrack…), the earliest date.
PRIMARY_TYPE_RANK = {"Album": 0, "EP": 1, "Single": 2}


def _release_rank(release: dict) -> tuple:
    group = release.get("release-group") or {}
    return (release.get("status") != "Official", bool(group.get("secondary-types")),
            PRIMARY_TYPE_RANK.get(group.get("primary-type"), len(PRIMARY_TYPE_RANK)),
            release.get("date") or "9999", release.get("id", ""))


def choose_release(recording: dict, preferred_mbid: str | None = None) -> dict | None:
    """The release that stands for this recording: the one the track already names, when it is
    one of the recording's releases, else the best-ranked one; None for a standalone recording."""
    releases = [r for r in recording.get("releases") or [] if r.get("id")]
    for release in releases:
        if preferred_mbid and release["id"] == preferred_mbid:
            return release
    return min(releases, key=_release_rank) if releases else None


def tag_weights(entity: dict) -> dict[str, float]:
    """Tags and genres of an entity → {lower-cased name: count / highest count}."""
    counts: dict[str, int] = {}
    for tag in (entity.get("tags") or []) + (entity.get("genres") or []):
        name = " ".join(str(tag.get("name") or "").lower().split())
        count = int(tag.get("count") or 0)
        if name and count > 0:
            counts[name] = max(counts.get(name, 0), count)
    top = max(counts.values(), default=0)
    return {name: count / top for name, count in counts.items()}


def replace_tags(cur, table: str, id_column: str, item_id: int, weights: dict[str, float]) -> None:
    cur.execute(f"delete from {table} where {id_column} = %s and source = %s", (item_id, SOURCE))
    if not weights:
        return
    tag_ids = dict(execute_values(
        cur, """insert into tag (name) values %s
                on conflict (name) do update set name = excluded.name returning name, tag_id""",
        [(name,) for name in sorted(weights)], fetch=True))
    execute_values(cur, f"insert into {table} ({id_column}, tag_id, source, weight) values %s",
                   [(item_id, tag_ids[n], SOURCE, w) for n, w in sorted(weights.items())])


def upsert_artist(cur, artist: dict) -> int:
    """The artist row of this MusicBrainz artist (created or refreshed)."""
    values = (artist["name"], artist.get("sort-name"), artist.get("type"), artist.get("country"))
    cur.execute("select artist_id from artist where mbid = %s", (artist["id"],))
    row = cur.fetchone()
    if row:
        cur.execute("""update artist set name = %s, sort_name = coalesce(%s, sort_name),
                           type = coalesce(%s, type), country = coalesce(%s, country)
                       where artist_id = %s""", values + (row[0],))
        return row[0]
    cur.execute("""insert into artist (artist_key, mbid, name, sort_name, type, country)
                   values (%s, %s, %s, %s, %s, %s) returning artist_id""",
                (f"mbid:{artist['id']}", artist["id"]) + values)
    return cur.fetchone()[0]


def upsert_label(cur, label: dict) -> int:
    cur.execute("""insert into label (mbid, name) values (%s, %s)
                   on conflict (mbid) do update set name = excluded.name returning label_id""",
                (label["id"], label["name"]))
    return cur.fetchone()[0]


def upsert_release(cur, release: dict) -> int:
    """The release row (title, first credited artist, group, date, country) and its labels."""
    credits = release.get("artist-credit") or []
    artist_id = upsert_artist(cur, credits[0]["artist"]) if credits else None
    values = (release["title"], artist_id, (release.get("release-group") or {}).get("id"),
              release.get("date") or None, release.get("country"))
    cur.execute("select release_id from release where mbid = %s", (release["id"],))
    row = cur.fetchone()
    if row:
        release_id = row[0]
        cur.execute("""update release set title = %s, artist_id = coalesce(%s, artist_id),
                           release_group_mbid = %s, date = %s, country = %s
                       where release_id = %s""", values + (release_id,))
    else:
        cur.execute("""insert into release (release_key, mbid, title, artist_id, release_group_mbid,
                                            date, country)
                       values (%s, %s, %s, %s, %s, %s, %s) returning release_id""",
                    (f"mbid:{release['id']}", release["id"]) + values)
        release_id = cur.fetchone()[0]
    if "label-info" in release:
        cur.execute("delete from release_label where release_id = %s", (release_id,))
        rows = {(release_id, upsert_label(cur, info["label"]), info.get("catalog-number") or "")
                for info in release["label-info"] if info.get("label") and info["label"].get("id")}
        execute_values(cur, "insert into release_label values %s", sorted(rows))
    return release_id


def relation_rows(recording: dict) -> list[tuple[str, str, str, str, list[str]]]:
    """(kind, direction, target type, target MBID, attributes) of the recording's relations to
    recordings and works; one relation stated twice (e.g. two date ranges) becomes one row."""
    rows: dict[tuple, set[str]] = {}
    for rel in recording.get("relations") or []:
        target_type = rel.get("target-type")
        target = rel.get(target_type) if target_type in ("recording", "work") else None
        if not target or not target.get("id") or rel.get("direction") not in ("forward", "backward"):
            continue
        key = (rel["type"], rel["direction"], target_type, target["id"])
        rows.setdefault(key, set()).update(rel.get("attributes") or [])
    return [key + (sorted(attrs),) for key, attrs in sorted(rows.items())]


def store_recording(cur, track_id: int, recording: dict, release: dict | None, status: str) -> None:
    """Store `recording` (a lookup answer) and `release` (a release lookup, or None) on the track."""
    credits = recording.get("artist-credit") or []
    artist_ids = [upsert_artist(cur, credit["artist"]) for credit in credits]
    cur.execute("delete from track_artist where track_id = %s", (track_id,))
    execute_values(cur, "insert into track_artist values %s", [
        (track_id, pos, artist_id, credit.get("name") or credit["artist"]["name"], credit.get("joinphrase") or "")
        for pos, (artist_id, credit) in enumerate(zip(artist_ids, credits))])
    for artist_id, credit in zip(artist_ids, credits):
        if "tags" in credit["artist"] or "genres" in credit["artist"]:
            replace_tags(cur, "artist_tag", "artist_id", artist_id, tag_weights(credit["artist"]))

    cur.execute("""select r.release_id, r.mbid::text from track t
                   left join release r on r.release_id = t.release_id where t.track_id = %s""", (track_id,))
    current_id, current_mbid = cur.fetchone()
    release_id = current_id
    if release is not None:
        chosen_id = upsert_release(cur, release)
        if current_mbid is None or current_mbid == release["id"]:
            release_id = chosen_id  # a name-only (or no) release gives way to the MusicBrainz one
    cur.execute("""update track set title = %s, duration_ms = coalesce(%s, duration_ms),
                       isrcs = (select coalesce(array_agg(distinct i order by i), '{}')
                                from unnest(isrcs || %s::text[]) i),
                       artist_id = coalesce(%s, artist_id), release_id = %s, mb_status = %s,
                       mb_checked_at = now(), mb_note = null, updated_at = now()
                   where track_id = %s""",
                (recording["title"], recording.get("length"), sorted(set(recording.get("isrcs") or [])),
                 artist_ids[0] if artist_ids else None, release_id, status, track_id))
    replace_tags(cur, "track_tag", "track_id", track_id, tag_weights(recording))
    cur.execute("delete from recording_relation where track_id = %s", (track_id,))
    execute_values(cur, "insert into recording_relation values %s",
                   [(track_id,) + row for row in relation_rows(recording)])
