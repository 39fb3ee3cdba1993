"""A fake MusicBrainz WS/2 server on 127.0.0.1 speaking the real JSON formats.

Shaped on the real responses in /work/shared/fixtures/api/musicbrainz/ and the notes in
/work/shared/reference/apis.md:

* GET /ws/2/{recording,release,artist}/{mbid}?inc=…&fmt=json — the entity with only the parts
  `inc` asks for (artist-credit, releases and their release-group, isrcs, tags and genres sorted
  by name, label-info, relations of the requested target types); an unknown `inc` → 400
  "… is not a valid inc parameter …"; a malformed MBID → 400 {"error": "Invalid mbid.", …};
  an unknown one → 404 {"error": "Not Found", …}.
* GET /ws/2/recording?query=…&limit=&offset=&fmt=json — the query must be the Lucene form
  `recording:"…" AND artist:"…"` in which every special character is backslash-escaped
  (anything else → 400); the answer is the hits registered for that exact (title, artist):
  {created, count, offset, recordings[] with integer `score`}. `limit` outside 1–100 → 25.
* No or a generic User-Agent → 403; `fmt` other than json → 406.
* Faults: `fail_next(n, status)` (503 carries MusicBrainz's rate-limit body), `fail_always(mbid)`.

Every request is recorded (`requests`) with its arrival time (time.monotonic, taken first thing
in the handler) and User-Agent, so tests measure rate and caching at the server.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

RATE_LIMIT_BODY = {"error": "Your requests are exceeding the allowable rate limit. Please see "
                            "http://wiki.musicbrainz.org/XMLWebService for more information."}
HELP = "For usage, please see: https://musicbrainz.org/development/mmd"
LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/,')
RELS = {"recording-rels": "recording", "work-rels": "work", "artist-rels": "artist", "url-rels": "url",
        "release-rels": "release", "label-rels": "label"}
VALID_INC = {
    "recording": {"artists", "releases", "isrcs", "tags", "genres", "ratings", "release-groups",
                  "aliases", "annotation", "artist-credits", "media", *RELS},
    "release": {"artists", "labels", "recordings", "release-groups", "tags", "genres", "media",
                "artist-credits", "aliases", "annotation", "isrcs", *RELS},
    "artist": {"tags", "genres", "ratings", "aliases", "annotation", "releases", "release-groups",
               "recordings", "works", *RELS},
}
SPECIAL_VA = "89ad4ac3-39f7-470e-963a-56509c546377"  # Various Artists
UA_FORM = re.compile(r"^\S+/\S+ \( \S.* \)$")


# ---- builders: entities in the shapes MusicBrainz returns ----------------------------------

def mbid() -> str:
    return str(uuid.uuid4())


def artist(name: str, *, id: str | None = None, sort_name: str | None = None, type: str | None = "Group",
           country: str | None = "US", tags: dict[str, int] | None = None,
           genres: dict[str, int] | None = None) -> dict:
    return {"id": id or mbid(), "name": name, "sort-name": sort_name or name, "disambiguation": "",
            "type": type, "type-id": None, "country": country,
            "tags": _tags(tags), "genres": _genres(genres)}


def credit(*artists_and_phrases) -> list[dict]:
    """credit(a, " feat. ", b) → artist-credit list with join phrases."""
    items, pending = [], None
    for part in artists_and_phrases:
        if isinstance(part, str):
            pending["joinphrase"] = part
        else:
            pending = {"name": part["name"], "joinphrase": "", "artist": part}
            items.append(pending)
    return items


def release(title: str, *, id: str | None = None, credits: list[dict] | None = None, date: str | None = None,
            country: str | None = "US", status: str = "Official", primary_type: str = "Album",
            secondary_types: tuple[str, ...] = (), group_id: str | None = None,
            labels: list[tuple[dict | None, str | None]] = ()) -> dict:
    return {
        "id": id or mbid(), "title": title, "status": status, "date": date, "country": country,
        "disambiguation": "", "barcode": None, "packaging": None, "quality": "normal",
        "release-events": [{"date": date, "area": None}] if date else [],
        "artist-credit": credits or [],
        "release-group": {"id": group_id or mbid(), "title": title, "primary-type": primary_type,
                          "secondary-types": list(secondary_types), "disambiguation": ""},
        "label-info": [{"catalog-number": catno, "label": lab} for lab, catno in labels],
    }


def label(name: str, *, id: str | None = None) -> dict:
    return {"id": id or mbid(), "name": name, "sort-name": name, "disambiguation": "",
            "type": "Original Production", "label-code": None}


def work(title: str, *, id: str | None = None) -> dict:
    return {"id": id or mbid(), "title": title, "type": "Song", "language": "eng", "disambiguation": "",
            "attributes": [], "iswcs": []}


def relation(type: str, target_type: str, target: dict, direction: str = "forward",
             attributes: tuple[str, ...] = ()) -> dict:
    return {"type": type, "type-id": mbid(), "direction": direction, "target-type": target_type,
            "attributes": list(attributes), "attribute-ids": {a: mbid() for a in attributes},
            "attribute-values": {}, "begin": None, "end": None, "ended": False,
            "source-credit": "", "target-credit": "", target_type: _stub(target, target_type)}


def recording(title: str, *, id: str | None = None, length: int | None = None, credits: list[dict],
              releases: list[dict] = (), isrcs: tuple[str, ...] = (), tags: dict[str, int] | None = None,
              genres: dict[str, int] | None = None, relations: list[dict] = ()) -> dict:
    return {"id": id or mbid(), "title": title, "length": length, "disambiguation": "", "video": False,
            "first-release-date": min((r["date"] for r in releases if r.get("date")), default=None),
            "artist-credit": credits, "releases": list(releases), "isrcs": list(isrcs),
            "tags": _tags(tags), "genres": _genres(genres), "relations": list(relations)}


def search_hit(rec: dict, score: int, length: int | None = -1) -> dict:
    """A recording as a search result lists it (trimmed artists, a score)."""
    return {"id": rec["id"], "score": score, "title": rec["title"],
            "length": rec["length"] if length == -1 else length, "video": None,
            "artist-credit": [{"name": c["name"], "joinphrase": c["joinphrase"],
                               "artist": {k: c["artist"][k] for k in ("id", "name", "sort-name")}}
                              for c in rec["artist-credit"]],
            "first-release-date": rec.get("first-release-date"),
            "releases": [_release_view(r, {"release-groups"}) for r in rec["releases"]][:3]}


def _tags(counts: dict[str, int] | None) -> list[dict]:
    return [{"count": c, "name": n} for n, c in sorted((counts or {}).items())]


def _genres(counts: dict[str, int] | None) -> list[dict]:
    return [{"count": c, "disambiguation": "", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, n)), "name": n}
            for n, c in sorted((counts or {}).items())]


def _stub(entity: dict, kind: str) -> dict:
    keep = {"recording": ("id", "title", "length", "disambiguation", "video"),
            "work": ("id", "title", "type", "language", "disambiguation", "attributes", "iswcs")}
    return {k: entity.get(k) for k in keep.get(kind, ("id", "name"))}


def _release_view(rel: dict, inc: set[str]) -> dict:
    view = {k: v for k, v in rel.items() if k not in ("release-group", "label-info", "artist-credit")}
    if "release-groups" in inc:
        view["release-group"] = rel["release-group"]
    if inc & {"artists", "artist-credits"}:
        view["artist-credit"] = rel["artist-credit"]
    if "labels" in inc:
        view["label-info"] = rel["label-info"]
    return view


def _view(kind: str, entity: dict, inc: set[str]) -> dict:
    if kind == "release":
        return _release_view(entity, inc)
    optional = {"artist-credit": "artists", "isrcs": "isrcs", "tags": "tags", "genres": "genres"}
    view = {k: v for k, v in entity.items()
            if k not in ("releases", "relations") and (k not in optional or optional[k] in inc)}
    if kind == "recording":
        if "artist-credit" in view:  # nested artists carry tags/genres only when asked for
            view["artist-credit"] = [dict(c, artist={k: v for k, v in c["artist"].items()
                                                     if k not in optional or optional[k] in inc})
                                     for c in entity["artist-credit"]]
        if "releases" in inc:
            view["releases"] = [_release_view(r, inc - {"labels"})
                                for r in entity.get("releases", [])]
    wanted = {RELS[i] for i in inc if i in RELS}
    if wanted:
        view["relations"] = [r for r in entity.get("relations", []) if r["target-type"] in wanted]
    return view


def parse_recording_query(query: str) -> tuple[str, str]:
    """(title, artist) from `recording:"…" AND artist:"…"`; ValueError for anything else,
    including a special character left unescaped inside a phrase."""
    fields, i = {}, 0
    for expected_field, joiner in (("recording", ' AND '), ("artist", "")):
        prefix = f'{expected_field}:"'
        if not query.startswith(prefix, i):
            raise ValueError(f"expected {prefix} at {i}")
        i += len(prefix)
        value = []
        while True:
            if i >= len(query):
                raise ValueError("unterminated phrase")
            ch = query[i]
            if ch == "\\":
                if i + 1 >= len(query):
                    raise ValueError("dangling escape")
                value.append(query[i + 1])
                i += 2
            elif ch == '"':
                i += 1
                break
            elif ch in LUCENE_SPECIAL:
                raise ValueError(f"unescaped {ch!r} at {i}")
            else:
                value.append(ch)
                i += 1
        fields[expected_field] = "".join(value)
        if joiner:
            if not query.startswith(joiner, i):
                raise ValueError(f"expected {joiner!r} at {i}")
            i += len(joiner)
    if i != len(query):
        raise ValueError(f"trailing text at {i}")
    return fields["recording"], fields["artist"]


# ---- the server ------------------------------------------------------------------------------

@dataclass
class Seen:
    at: float              # time.monotonic() on arrival
    path: str
    params: dict[str, str]
    user_agent: str
    status: int = 0


class FakeMusicBrainz:
    def __init__(self) -> None:
        self.entities: dict[str, dict[str, dict]] = {"recording": {}, "release": {}, "artist": {}}
        self.searches: dict[tuple[str, str], list[dict]] = {}
        self.requests: list[Seen] = []
        self.queries: list[str] = []
        self.failed = threading.Event()     # set whenever a fault was served
        self._faults: list[tuple[int, float | None]] = []
        self._always_failing: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/ws/2/"

    def __enter__(self) -> FakeMusicBrainz:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # registering data and faults
    def add(self, kind: str, entity: dict) -> dict:
        self.entities[kind][entity["id"]] = entity
        return entity

    def add_recording(self, rec: dict, with_releases: bool = True) -> dict:
        if with_releases:
            for rel in rec["releases"]:
                self.add("release", rel)
        return self.add("recording", rec)

    def add_search(self, title: str, artist_name: str, hits: list[dict]) -> None:
        self.searches[(title, artist_name)] = hits

    def fail_next(self, times: int, status: int = 503, retry_after: float | None = None) -> None:
        with self._lock:
            self._faults += [(status, retry_after)] * times

    def fail_always(self, entity_mbid: str, status: int = 500) -> None:
        self._always_failing[entity_mbid] = status

    def count(self, path_part: str = "") -> int:
        return sum(path_part in s.path for s in self.requests)

    # answering
    def _answer(self, path: str, params: dict[str, str], user_agent: str) -> tuple[int, dict, dict]:
        if not UA_FORM.match(user_agent) or user_agent.lower().startswith(("python-", "httpx")):
            return 403, {"error": "Please identify your application in the User-Agent"}, {}
        if params.get("fmt", "xml") != "json":
            return 406, {"error": "this fake serves fmt=json only"}, {}
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault:
            status, retry_after = fault
            self.failed.set()
            return status, RATE_LIMIT_BODY if status == 503 else {"error": "Internal Server Error"}, (
                {"Retry-After": str(retry_after)} if retry_after is not None else {})
        parts = path.removeprefix("/ws/2/").strip("/").split("/")
        kind = parts[0]
        if kind not in self.entities or len(parts) > 2:
            return 404, {"error": "Not Found", "help": HELP}, {}
        if len(parts) == 1:
            return self._search(kind, params)
        inc = set(filter(None, re.split(r"[+ ]", params.get("inc", ""))))
        bad = sorted(inc - VALID_INC[kind])
        if bad:
            return 400, {"error": f"{bad[0]} is not a valid inc parameter for the {kind} resource.",
                         "help": HELP}, {}
        try:
            key = str(uuid.UUID(parts[1])) if len(parts[1]) == 36 else None
        except ValueError:
            key = None
        if key is None:
            return 400, {"error": "Invalid mbid.", "help": HELP}, {}
        if key in self._always_failing:
            self.failed.set()
            return self._always_failing[key], {"error": "Internal Server Error"}, {}
        entity = self.entities[kind].get(key)
        if entity is None:
            return 404, {"error": "Not Found", "help": HELP}, {}
        return 200, _view(kind, entity, inc), {}

    def _search(self, kind: str, params: dict[str, str]) -> tuple[int, dict, dict]:
        query = params.get("query", "")
        self.queries.append(query)
        try:
            title, artist_name = parse_recording_query(query)
        except ValueError as exc:
            return 400, {"error": f"Invalid query: {exc}", "help": HELP}, {}
        try:
            limit = int(params.get("limit", 25))
        except ValueError:
            limit = 25
        limit = limit if 1 <= limit <= 100 else 25
        hits = self.searches.get((title, artist_name), []) if kind == "recording" else []
        return 200, {"created": "2026-11-29T00:00:00.000Z", "count": len(hits), "offset": 0,
                     "recordings": hits[:limit]}, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                arrived = time.monotonic()
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                seen = Seen(arrived, url.path, params, self.headers.get("User-Agent", ""))
                fake.requests.append(seen)
                status, body, headers = fake._answer(url.path, params, seen.user_agent)
                seen.status = status
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
