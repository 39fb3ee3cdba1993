"""Last.fm top tags for the catalogue's artists and tracks, cached with a time to live.

Artists and tracks are taken most-listened first. For each one whose cached answer in
`api_cache` is missing or expired, `artist.getTopTags` / `track.getTopTags` is asked; its tags
replace the item's earlier Last.fm tags in `artist_tag` / `track_tag` (source 'lastfm',
weight = count / 100, tag names lower-cased into `tag`), and the answer is cached:

* tags found            -> status 200, kept for `ttl`;
* no tags (an unknown track answers 200 with an empty list) -> status 200, kept for `not_found_ttl`;
* error 6 (unknown artist/track) -> status 404, kept for `not_found_ttl`, earlier tags kept.

Each item is committed on its own. An item that still fails after the client's retries is
recorded in the report and the batch goes on (it stops after `max_consecutive_failures` in a
row: the service is down); an invalid or suspended API key stops the batch at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from urllib.parse import urlencode

from psycopg2.extras import execute_values

from sidetrack_pipeline.ingest.response_cache import fresh_urls, put_response
from sidetrack_pipeline.sources.lastfm import (LastfmClient, LastfmError, LastfmKeyError,
                                               LastfmNotFound, TopTag)

SOURCE = "lastfm"
DEFAULT_TTL = timedelta(days=30)
DEFAULT_NOT_FOUND_TTL = timedelta(days=7)


# -- cached answers live in api_cache (ingest/response_cache.py): key -> status, body, expiry --

def cache_key(method: str, params: dict[str, object]) -> str:
    """e.g. `lastfm:artist.getTopTags?artist=Audioslave&autocorrect=1` (never the API key)."""
    return f"{SOURCE}:{method}?{urlencode(sorted((k, str(v)) for k, v in params.items()))}"


@dataclass(frozen=True)
class TagItem:
    kind: str              # 'artist' | 'track'
    item_id: int           # artist_id or track_id
    artist: str
    track: str | None = None

    @property
    def method(self) -> str:
        return "artist.getTopTags" if self.kind == "artist" else "track.getTopTags"

    @property
    def params(self) -> dict[str, object]:
        """The parameters the client sends (the cache key is built from these)."""
        params: dict[str, object] = {"artist": self.artist, "autocorrect": 1}
        if self.kind == "track":
            params["track"] = self.track
        return params

    @property
    def key(self) -> str:
        return cache_key(self.method, self.params)

    def __str__(self) -> str:
        return f"{self.artist} - {self.track}" if self.kind == "track" else self.artist


@dataclass
class TagFetchReport:
    requested: int = 0         # lookups sent to Last.fm in this run (one per distinct key)
    cached: int = 0            # lookups skipped: a fresh cached answer exists
    tagged: int = 0            # items whose tags were stored
    without_tags: int = 0      # answered with an empty tag list
    not_found: int = 0         # error 6
    failed: list[tuple[str, str]] = field(default_factory=list)  # (item, error)
    stopped: str | None = None  # why the batch ended early, if it did
    left: int = 0              # stale lookups not sent because `limit` was reached

    def summary(self) -> str:
        return (f"Last.fm tags: asked {self.requested}, cached {self.cached}, tagged {self.tagged}, "
                f"without tags {self.without_tags}, not found {self.not_found}, "
                f"failed {len(self.failed)}, left for later {self.left}")


def catalogue_items(cur, kinds: tuple[str, ...] = ("artist", "track")) -> Iterator[TagItem]:
    """Artists, then tracks, of the catalogue: the most-listened first."""
    if "artist" in kinds:
        cur.execute("""select a.artist_id, a.name from artist a
                       left join track t on t.artist_id = a.artist_id
                       left join listen l on l.track_id = t.track_id
                       group by a.artist_id order by count(l.track_id) desc, a.artist_id""")
        for artist_id, name in cur.fetchall():
            yield TagItem("artist", artist_id, name)
    if "track" in kinds:
        cur.execute("""select t.track_id, a.name, t.title from track t
                       join artist a on a.artist_id = t.artist_id
                       left join listen l on l.track_id = t.track_id
                       group by t.track_id, a.name order by count(l.track_id) desc, t.track_id""")
        for track_id, artist, title in cur.fetchall():
            yield TagItem("track", track_id, artist, title)


def _tag_weights(tags: list[TopTag]) -> dict[str, float]:
    """Lower-cased tag name -> weight (count / 100); case variants keep their highest count."""
    weights: dict[str, float] = {}
    for tag in tags:
        name = " ".join(tag.name.lower().split())
        if name:
            weights[name] = max(weights.get(name, 0.0), tag.count / 100)
    return weights


def store_tags(cur, item: TagItem, tags: list[TopTag]) -> int:
    """Replace the item's Last.fm tags with `tags`; returns how many were stored."""
    table, id_col = ("artist_tag", "artist_id") if item.kind == "artist" else ("track_tag", "track_id")
    cur.execute(f"delete from {table} where {id_col} = %s and source = %s", (item.item_id, SOURCE))
    weights = _tag_weights(tags)
    if not weights:
        return 0
    tag_ids = dict(execute_values(
        cur, """insert into tag (name) values %s
                on conflict (name) do update set name = excluded.name returning name, tag_id""",
        [(name,) for name in sorted(weights)], fetch=True))
    execute_values(
        cur, f"insert into {table} ({id_col}, tag_id, source, weight) values %s",
        [(item.item_id, tag_ids[name], SOURCE, weight) for name, weight in sorted(weights.items())])
    return len(weights)


def _fetch(client: LastfmClient, item: TagItem) -> list[TopTag]:
    if item.kind == "artist":
        return client.artist_top_tags(item.artist)
    return client.track_top_tags(item.artist, item.track)


def fetch_lastfm_tags(conn, client: LastfmClient, *, kinds: tuple[str, ...] = ("artist", "track"),
                      limit: int | None = None, ttl: timedelta = DEFAULT_TTL,
                      not_found_ttl: timedelta = DEFAULT_NOT_FOUND_TTL,
                      max_consecutive_failures: int = 10,
                      on_item: Callable[[TagItem, TagFetchReport], None] | None = None) -> TagFetchReport:
    """Fetch and store Last.fm tags for catalogue items without a fresh cached answer.

    `limit` caps the Last.fm lookups of one run (None: all). Commits on `conn` after each item;
    `on_item(item, report)` is called after each lookup. Raises LastfmKeyError at once.
    """
    report = TagFetchReport()
    with conn.cursor() as cur:
        fresh = fresh_urls(cur, f"{SOURCE}:")
        groups: dict[str, list[TagItem]] = {}  # one lookup serves every row with the same names
        for item in catalogue_items(cur, kinds):
            groups.setdefault(item.key, []).append(item)
    conn.commit()
    stale = [group for key, group in groups.items() if key not in fresh]
    report.cached = len(groups) - len(stale)
    consecutive_failures = 0
    for position, group in enumerate(stale):
        if limit is not None and report.requested >= limit:
            report.left = len(stale) - position
            break
        item = group[0]
        report.requested += 1
        try:
            tags = _fetch(client, item)
        except LastfmNotFound as exc:
            with conn.cursor() as cur:
                put_response(cur, item.key, 404, {"error": exc.code, "message": str(exc)},
                             not_found_ttl.total_seconds())
            conn.commit()
            report.not_found += 1
            consecutive_failures = 0
        except LastfmKeyError:
            raise
        except LastfmError as exc:
            report.failed.append((f"{item.kind} {item}", str(exc)))
            consecutive_failures += 1
            if consecutive_failures >= max_consecutive_failures:
                report.stopped = f"{consecutive_failures} lookups in a row failed; last: {exc}"
                break
        else:
            with conn.cursor() as cur:
                stored = max(store_tags(cur, member, tags) for member in group)
                put_response(cur, item.key, 200,
                             {"tags": [{"name": t.name, "count": t.count} for t in tags]},
                             (ttl if stored else not_found_ttl).total_seconds())
            conn.commit()
            if stored:
                report.tagged += 1
            else:
                report.without_tags += 1
            consecutive_failures = 0
        if on_item is not None:
            on_item(item, report)
    return report
