"""Where a ListenBrainz sync stands: the `sync_cursor` row (source 'listenbrainz') of one user.

* backfill: `max_ts` (every listen at a second >= max_ts, up to `newest`, is stored), `boundary`
  (keys already stored at second max_ts - 1), `newest` and `newest_keys` (the newest second seen
  and its keys: where the incremental phase starts once the backfill is done);
* incremental: `since` (every listen at a second < since is stored) and `boundary` (the keys
  stored at second `since`).

A key is the listen's recording_msid (artist|title when it has none). The cursor also names the
ListenBrainz account it belongs to: a different account starts a new backfill.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from psycopg2.extras import Json

from sidetrack_pipeline.sources.listen import Listen, name_key

log = logging.getLogger(__name__)

SOURCE = "listenbrainz"
CURSOR_VERSION = 1


class UnusableCursor(ValueError):
    """The stored cursor cannot be read (hand-edited, or written by an incompatible version)."""


@dataclass
class Cursor:
    lb_user: str
    phase: str = "backfill"
    max_ts: int | None = None
    newest: int | None = None
    newest_keys: list[str] = field(default_factory=list)
    since: int | None = None
    boundary: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, stored: object, lb_user: str) -> Cursor:
        """The stored cursor for `lb_user`; a fresh backfill when none (or another account's)."""
        if stored is None:
            return cls(lb_user)
        try:
            if stored.get("version") != CURSOR_VERSION:
                raise ValueError(f"version {stored.get('version')!r}")
            data = {k: v for k, v in stored.items() if k != "version"}
            cursor = cls(**data)
            if cursor.phase not in ("backfill", "incremental") or (
                    cursor.phase == "incremental" and not isinstance(cursor.since, int)):
                raise ValueError(f"phase {cursor.phase!r}, since {cursor.since!r}")
            if not all(v is None or type(v) is int for v in (cursor.max_ts, cursor.newest, cursor.since)):
                raise ValueError("a timestamp is not an integer")
            if not all(isinstance(k, str) for k in cursor.boundary + cursor.newest_keys):
                raise ValueError("a key is not a string")
        except (AttributeError, TypeError, ValueError) as exc:
            raise UnusableCursor(
                f"the stored ListenBrainz sync cursor is unusable ({exc}): {stored!r}; sync with "
                "full_resync=True (or delete the sync_cursor row) to start a full sync again") from exc
        if cursor.lb_user != lb_user:
            log.warning("ListenBrainz account changed from %r to %r: starting a full sync",
                        cursor.lb_user, lb_user)
            return cls(lb_user)
        return cursor

    def as_json(self) -> dict:
        return {"version": CURSOR_VERSION, **asdict(self)}


def listen_key(listen: Listen) -> str:
    return listen.recording_msid or f"name:{name_key(listen.artist_name, listen.track_name)}"


def load_cursor(cur, user_id: int, lb_user: str) -> Cursor:
    cur.execute("select cursor from sync_cursor where user_id = %s and source = %s",
                (user_id, SOURCE))
    row = cur.fetchone()
    return Cursor.load(row[0] if row else None, lb_user)


def save_cursor(cur, user_id: int, cursor: Cursor) -> None:
    """Inside the caller's transaction: the same one as the page the cursor describes."""
    cur.execute("""insert into sync_cursor (user_id, source, cursor) values (%s, %s, %s)
                   on conflict (user_id, source)
                   do update set cursor = excluded.cursor, updated_at = now()""",
                (user_id, SOURCE, Json(cursor.as_json())))
