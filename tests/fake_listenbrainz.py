"""A fake ListenBrainz server on 127.0.0.1 that speaks the real API's formats and semantics.

Endpoints (as listenbrainz-server answers them, see /work/shared/reference/apis.md):

* GET /1/user/{user}/listens?count=&min_ts=&max_ts= -- both bounds exclusive; newest first;
  `count` default 25, capped at 1000, negative -> 400; with `min_ts` the `count` listens just
  after it are taken (then reversed), otherwise the `count` newest before `max_ts`;
  payload {count, user_id, listens, latest_listen_ts, oldest_listen_ts}.
* GET /1/user/{user}/listen-count -> {"payload": {"count": N}}
* GET /1/validate-token (header `Authorization: Token <t>`) -> valid / invalid / 400 without one.
* POST /1/playlist/create (token required: none or unknown -> 401) with a JSPF body, validated
  as listenbrainz-server does (400 {"code","error"}: no `playlist`, no `title`, no boolean
  `extension[PLAYLIST_EXT].public`, a track whose identifier (a URI or a list whose FIRST item
  counts) is not https://musicbrainz.org/recording/<uuid>) -> {"status":"ok","playlist_mbid"};
  accepted documents are kept in `playlists`.
* unknown user -> 404 {"code": 404, "error": "Cannot find user: ..."}; errors are {"code","error"}.
* every answer carries X-RateLimit-Limit/-Remaining/-Reset-In/-Reset from a fixed window on
  `clock` (a test can pass a virtual clock that its client's `sleep` advances); over the limit -> 429.

Faults on demand (`inject`): 429 with Reset-In, 503, a response slower than any client timeout,
truncated JSON, a connection cut mid-body, a short (but well-formed, whole-second) page; and `hold_listens_after(n)` makes every /listens
request after the n-th wait until `release()` (so a test knows where a sync subprocess stands).
A short page is what the real server gives when its search windows run out before `count`: the
part of the answer next to the bound it grows from (the newest part below `max_ts`, or without
bounds; the oldest part above `min_ts`), in whole seconds.

What was really served is recorded: `served(user)` holds the (listened_at, recording_msid) of
every listen sent in a complete 200 answer of /listens (a truncated or cut answer serves nothing),
and `fault_log` names every fault as it is applied (kind, path).

Listens within one second are kept in insertion order (ascending queries) and reversed for
descending ones, so the two ends of a crowded second are different subsets, as on a real server.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

MAX_ITEMS_PER_GET = 1000
DEFAULT_ITEMS_PER_GET = 25


@dataclass
class Fault:
    kind: str            # '429', '503', '500', 'slow', 'truncated', 'cut', 'short'
    times: int = 1
    path: str = "/listens"
    after: int = 0       # let this many matching requests (counted from injection) pass first
    reset_in: int = 7    # for '429'


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 0


class _UserListens:
    """One user's listens, ascending by listened_at (ties in insertion order), pre-serialised."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.msids: list[str] = []
        self.bodies: list[str] = []
        self.keys: set[tuple[int, str]] = set()

    def add(self, listens: list[dict]) -> None:
        for listen in sorted(listens, key=lambda item: item["listened_at"]):
            key = (listen["listened_at"], listen["recording_msid"])
            if key in self.keys:
                raise ValueError(f"the server already has a listen {key} (unique per second and msid)")
            self.keys.add(key)
            at = bisect.bisect_right(self.stamps, listen["listened_at"])
            self.stamps.insert(at, listen["listened_at"])
            self.msids.insert(at, listen["recording_msid"])
            self.bodies.insert(at, json.dumps(listen))

    def query(self, min_ts: int | None, max_ts: int | None, count: int) -> list[int]:
        """Indices of the answer, newest first."""
        lo = bisect.bisect_right(self.stamps, min_ts) if min_ts is not None else 0
        hi = bisect.bisect_left(self.stamps, max_ts) if max_ts is not None else len(self.stamps)
        chosen = range(lo, min(hi, lo + count)) if min_ts is not None else range(max(lo, hi - count), hi)
        return list(reversed(chosen))


class FakeListenBrainz:
    def __init__(self, *, clock=time.time, rate_limit: int = 1_000_000, rate_window_s: int = 10):
        self.clock = clock
        self.rate_limit, self.rate_window_s = rate_limit, rate_window_s
        self._window_start, self._window_used = None, 0
        self.users: dict[str, _UserListens] = {}
        self.tokens: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.playlists: dict[str, dict] = {}  # playlist_mbid -> {"user", "jspf"}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._hold_after: int | None = None
        self._released = threading.Event()
        self._listens_served = 0
        self._served: dict[str, set[tuple[int, str]]] = {}
        self.fault_log: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeListenBrainz:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeListenBrainz:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls -------------------------------------------------------------------------

    def add_user(self, name: str, listens: list[dict] = (), token: str | None = None) -> None:
        self.users.setdefault(name, _UserListens()).add(list(listens))
        if token:
            self.tokens[token] = name

    def add_listens(self, name: str, listens: list[dict]) -> None:
        with self._lock:
            self.users[name].add(listens)

    def keys(self, name: str) -> set[tuple[int, str]]:
        """(listened_at, recording_msid) of every listen the server holds for `name`."""
        return set(self.users[name].keys)

    def inject(self, kind: str, times: int = 1, path: str = "/listens", after: int = 0,
               reset_in: int = 7) -> None:
        self.faults.append(Fault(kind, times, path, after, reset_in))

    def clear_faults(self) -> None:
        self.faults.clear()

    def hold_listens_after(self, n: int | None) -> None:
        """From the (n+1)-th /listens request on, answer only after `release()` (None: never hold)."""
        self._released.clear()
        self._hold_after = None if n is None else self._listens_served + n

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    def requests_to(self, fragment: str) -> list[Seen]:
        return [s for s in self.seen if fragment in s.path]

    def served(self, name: str) -> set[tuple[int, str]]:
        """(listened_at, recording_msid) of every listen sent whole to a client for `name`."""
        with self._lock:
            return set(self._served.get(name, ()))

    def _record_served(self, name: str, keys: list[tuple[int, str]]) -> None:
        with self._lock:
            self._served.setdefault(name, set()).update(keys)

    # -- behaviour -----------------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        """The fault this request gets: `after` counts matching requests since injection."""
        with self._lock:
            chosen = None
            for fault in self.faults:
                if fault.path in path and fault.times > 0:
                    if fault.after > 0:
                        fault.after -= 1
                    elif chosen is None:
                        chosen = fault
            if chosen is not None:
                chosen.times -= 1
                self.fault_log.append((chosen.kind, path))
            return chosen

    def rate_headers(self, over: bool = False) -> dict[str, str]:
        now = self.clock()
        with self._lock:
            if self._window_start is None or now >= self._window_start + self.rate_window_s:
                self._window_start, self._window_used = now, 0
            if not over:
                self._window_used += 1
            remaining = max(0, self.rate_limit - self._window_used)
            reset_in = max(0, math.ceil(self._window_start + self.rate_window_s - now))
            exceeded = self._window_used > self.rate_limit
        headers = {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Reset-In": str(reset_in),
                   "X-RateLimit-Reset": str(int(now + reset_in))}
        if exceeded:
            headers["X-Over-Limit"] = "1"
        return headers

    def answer(self, path: str, params: dict[str, str], headers: dict[str, str],
               short: bool = False) -> tuple[int, str]:
        status, body, _ = self._answer(path, params, headers, short)
        return status, body

    def _answer(self, path: str, params: dict[str, str], headers: dict[str, str],
                short: bool = False) -> tuple[int, str, tuple[str, list[tuple[int, str]]] | None]:
        """(status, body, (user, keys of the listens in the body) for a /listens answer)."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["1", "validate-token"]:
            return (*self._validate_token(headers.get("authorization", "")), None)
        if len(parts) == 4 and parts[:2] == ["1", "user"] and parts[3] in ("listens", "listen-count"):
            user = self.users.get(parts[2])
            if user is None:
                return (*_error(404, f"Cannot find user: {parts[2]}"), None)
            if parts[3] == "listen-count":
                return 200, json.dumps({"payload": {"count": len(user.stamps)}}), None
            return self._listens(parts[2], user, params, short)
        return (*_error(404, "The requested URL was not found on the server."), None)

    def _validate_token(self, authorization: str) -> tuple[int, str]:
        if not authorization.startswith("Token ") or not authorization[6:].strip():
            return _error(400, "You need to provide an Authorization token.")
        user = self.tokens.get(authorization[6:].strip())
        if user is None:
            return 200, json.dumps({"code": 200, "message": "Token invalid.", "valid": False})
        return 200, json.dumps({"code": 200, "message": "Token valid.", "user_name": user, "valid": True})

    def _listens(self, name: str, user: _UserListens, params: dict[str, str],
                 short: bool) -> tuple[int, str, tuple[str, list[tuple[int, str]]] | None]:
        try:
            min_ts = int(params["min_ts"]) if "min_ts" in params else None
            max_ts = int(params["max_ts"]) if "max_ts" in params else None
            count = int(params.get("count", DEFAULT_ITEMS_PER_GET))
        except ValueError:
            return (*_error(400, "Invalid parameter: min_ts, max_ts and count must be integers"), None)
        if count < 0:
            return (*_error(400, "Count must be a non-negative integer"), None)
        if min_ts is not None and max_ts is not None and min_ts >= max_ts:
            return (*_error(400, "min_ts should be less than max_ts"), None)
        with self._lock:
            picked = user.query(min_ts, max_ts, min(count, MAX_ITEMS_PER_GET))
            if short:  # half of it, next to the bound the answer grows from, in whole seconds
                half = len(picked) // 2
                if min_ts is not None and max_ts is None:   # grows upwards from min_ts: the older half
                    kept, cut = picked[half:], picked[:half]
                    edge = user.stamps[cut[-1]] if cut else None
                else:                                        # grows downwards: the newer half
                    kept, cut = picked[:half], picked[half:]
                    edge = user.stamps[cut[0]] if cut else None
                picked = [i for i in kept if user.stamps[i] != edge] or picked
            bodies = [user.bodies[i] for i in picked]
            keys = [(user.stamps[i], user.msids[i]) for i in picked]
            latest = user.stamps[-1] if user.stamps else 0
            oldest = user.stamps[0] if user.stamps else 0
        head = json.dumps({"count": len(bodies), "user_id": name, "latest_listen_ts": latest,
                           "oldest_listen_ts": oldest})
        body = '{"payload": ' + head[:-1] + ', "listens": [' + ", ".join(bodies) + "]}}"
        return 200, body, (name, keys)

    def create_playlist(self, authorization: str, raw: bytes) -> tuple[int, str]:
        if not authorization.startswith("Token ") or not authorization[6:].strip():
            return _error(401, "You need to provide an Authorization header.")
        user = self.tokens.get(authorization[6:].strip())
        if user is None:
            return _error(401, "Invalid authorization token.")
        try:
            jspf = json.loads(raw)
        except ValueError:
            return _error(400, "Poorly formed JSON.")
        problem = _jspf_problem(jspf)
        if problem:
            return _error(400, problem)
        mbid = str(uuid.uuid4())
        with self._lock:
            self.playlists[mbid] = {"user": user, "jspf": jspf}
        return 200, json.dumps({"status": "ok", "playlist_mbid": mbid})

    def _hold_if_asked(self, path: str) -> None:
        if not path.endswith("/listens"):
            return
        with self._lock:
            self._listens_served += 1
            hold = self._hold_after is not None and self._listens_served > self._hold_after
        if hold:
            self._released.wait()


def _error(code: int, message: str) -> tuple[int, str]:
    return code, json.dumps({"code": code, "error": message})


PLAYLIST_EXT = "https://musicbrainz.org/doc/jspf#playlist"
RECORDING_PREFIX = "https://musicbrainz.org/recording/"


def _jspf_problem(jspf: object) -> str | None:
    """The server's error message for a JSPF it would refuse, None when it is acceptable."""
    playlist = jspf.get("playlist") if isinstance(jspf, dict) else None
    if not isinstance(playlist, dict):
        return "JSPF playlist requires 'playlist' element"
    if not isinstance(playlist.get("title"), str) or not playlist["title"].strip():
        return "JSPF playlist must contain a title element with the title of the playlist."
    extension = playlist.get("extension")
    ext = extension.get(PLAYLIST_EXT) if isinstance(extension, dict) else None
    if not isinstance(ext, dict) or "public" not in ext:
        return f"JSPF playlist.extension.{PLAYLIST_EXT}.public field must be given."
    if not isinstance(ext["public"], bool):
        return f"JSPF playlist.extension.{PLAYLIST_EXT}.public field must be a boolean."
    for i, track in enumerate(playlist.get("track", []) or []):
        identifier = track.get("identifier") if isinstance(track, dict) else None
        if isinstance(identifier, list):
            identifier = identifier[0] if identifier else None
        if not isinstance(identifier, str) or not identifier:
            return (f"JSPF playlist track {i} must contain an identifier element having a "
                    "MusicBrainz recording URI.")
        if not identifier.startswith(RECORDING_PREFIX):
            return f"JSPF playlist track {i} identifier must have the namespace '{RECORDING_PREFIX}' prepended to it."
        try:
            uuid.UUID(identifier[len(RECORDING_PREFIX):])
        except ValueError:
            return f"JSPF playlist track {i} does not contain a valid track identifier field."
    return None


def _handler_for(server: FakeListenBrainz):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
        # client's delayed ACK of the headers, ~40 ms per answer on Linux.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            seen = Seen(url.path, {}, {k.lower(): v for k, v in self.headers.items()})
            server.seen.append(seen)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if url.path.rstrip("/") == "/1/playlist/create":
                status, body = server.create_playlist(seen.headers.get("authorization", ""), raw)
            else:
                status, body = _error(404, "The requested URL was not found on the server.")
            headers = server.rate_headers()
            if headers.pop("X-Over-Limit", None):
                status, body = _error(429, "You have exceeded your rate limit.")
            self._send(seen, status, body, headers)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            seen = Seen(url.path, params, {k.lower(): v for k, v in self.headers.items()})
            server.seen.append(seen)
            server._hold_if_asked(url.path)
            fault = server._take_fault(url.path)
            kind = fault.kind if fault else None
            if kind == "slow":
                server._stopping.wait()  # far longer than any client timeout: until the server stops
                return
            if kind == "429":
                headers = {**server.rate_headers(over=True), "X-RateLimit-Remaining": "0",
                           "X-RateLimit-Reset-In": str(fault.reset_in)}
                return self._send(seen, 429, _error(429, "You have exceeded your rate limit. "
                                                         "See the X-RateLimit-* headers.")[1], headers)
            if kind in ("503", "500"):
                return self._send(seen, int(kind), "<html><body><h1>Service Unavailable</h1></body></html>",
                                  {"Content-Type": "text/html"})
            headers = server.rate_headers()
            if headers.pop("X-Over-Limit", None):
                return self._send(seen, 429, _error(429, "You have exceeded your rate limit.")[1], headers)
            status, body, served = server._answer(url.path, params, seen.headers, short=kind == "short")
            if kind == "truncated":
                body = body[: len(body) // 2]
            if kind == "cut":
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                seen.status = status
                return
            whole = kind != "truncated" and status == 200 and served is not None
            if self._send(seen, status, body, headers) and whole:
                server._record_served(*served)

        def _send(self, seen: Seen, status: int, body: str, headers: dict[str, str]) -> bool:
            """Send a whole answer; False when the client was gone before it was sent."""
            data = body.encode()
            seen.status = status
            try:
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return False  # the client gave up (a killed sync, a timeout)
            return True

    return Handler


# -- fake listening histories ----------------------------------------------------------------------

@dataclass(frozen=True)
class Recording:
    """One submitted recording: its msid stands for (artist, title, release); unique per index."""
    index: int
    msid: str
    artist: str
    title: str
    release: str
    mbid: str | None          # set when ListenBrainz mapped it (then mbid_mapping is present)
    artist_mbid: str | None
    release_mbid: str | None


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_recordings(n: int, seed: int = 1) -> list[Recording]:
    """`n` recordings with distinct msids, titles and (when mapped) recording MBIDs."""
    rng = random.Random(seed)
    artists = [(f"Artist {a}", _uuid(rng)) for a in range(max(1, n // 8))]
    recordings = []
    for i in range(n):
        artist, artist_mbid = artists[i % len(artists)]
        mapped = i % 3 == 0
        recordings.append(Recording(i, _uuid(rng), artist, f"Song {i}", f"Album {i // 10}",
                                    _uuid(rng) if mapped else None, artist_mbid if mapped else None,
                                    _uuid(rng) if mapped else None))
    return recordings


def listen_json(ts: int, rec: Recording, user: str) -> dict:
    """A listen exactly as /1/user/{user}/listens returns it (msid at the top level too)."""
    info = {
        "artist_mbids": [rec.artist_mbid] if rec.artist_mbid else [],
        "recording_mbid": rec.mbid or "",    # real data: empty strings where an MBID is missing
        "release_mbid": "", "release_group_mbid": "", "track_mbid": "", "work_mbids": [],
        "recording_msid": rec.msid,
        "listening_from": "spotify", "tags": [], "tracknumber": rec.index % 12 + 1,
    }
    if rec.index % 4 == 1:
        info["duration"] = 180 + rec.index % 120          # seconds, as some clients send
    else:
        info["duration_ms"] = (180 + rec.index % 120) * 1000 + 407
    if rec.index % 5 == 0:
        info["isrc"] = f"GBAFL16{rec.index:05d}"
    meta = {"artist_name": rec.artist, "track_name": rec.title, "release_name": rec.release,
            "additional_info": info}
    if rec.mbid:
        meta["mbid_mapping"] = {
            "recording_mbid": rec.mbid, "recording_name": rec.title,
            "release_mbid": rec.release_mbid, "artist_mbids": [rec.artist_mbid],
            "artists": [{"artist_mbid": rec.artist_mbid, "artist_credit_name": rec.artist,
                         "join_phrase": ""}],
            "caa_id": 30000000000 + rec.index, "caa_release_mbid": rec.release_mbid,
        }
    return {"listened_at": ts, "inserted_at": ts + 3, "recording_msid": rec.msid,
            "user_name": user, "track_metadata": meta}


@dataclass
class History:
    """Generated plays: (listened_at, recording index), each (second, recording) once."""
    plays: list[tuple[int, int]] = field(default_factory=list)

    def listens(self, recordings: list[Recording], user: str) -> list[dict]:
        return [listen_json(ts, recordings[r], user) for ts, r in self.plays]

    def keys(self, recordings: list[Recording]) -> set[tuple[int, str]]:
        return {(ts, recordings[r].msid) for ts, r in self.plays}


def make_history(total: int, shared: int, n_recordings: int, start_ts: int, seed: int = 2,
                 clusters: tuple[int, ...] = ()) -> History:
    """`total` plays from `start_ts` on, `shared` of them in seconds that hold more than one play.

    `clusters` are sizes of crowded seconds to include (counted in `shared`); the rest of the
    shared plays come in seconds of 2 to 6. Recordings never repeat within a second: that is
    SideTrack's identity of a play (user, track, second).
    """
    rng = random.Random(seed)
    sizes = list(clusters)
    left = shared - sum(sizes)
    if left < 0 or left == 1 or max(sizes, default=2) > n_recordings:
        raise ValueError("cluster sizes do not fit `shared` and the recordings")
    while left > 0:
        size = min(left, rng.randint(2, 6))
        if left - size == 1:
            size += 1
        sizes.append(size)
        left -= size
    sizes += [1] * (total - shared)
    rng.shuffle(sizes)
    history, ts = History(), start_ts
    for size in sizes:
        ts += rng.randint(1, 400)
        for index in rng.sample(range(n_recordings), size):
            history.plays.append((ts, index))
    return history
