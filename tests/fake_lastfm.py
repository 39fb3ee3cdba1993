"""A fake Last.fm API on 127.0.0.1 that answers in the real JSON shapes.

Shapes follow real responses (see /work/shared/fixtures/api/lastfm and the reference notes):
`user.getRecentTracks` with every number as a string, `mbid` "" when unknown, the artist and
album as {"mbid", "#text"}, a now-playing entry (`@attr.nowplaying`, no `date`) put on top of
every page even when `from`/`to` are given; `artist.getTopTags` answering an unknown artist with
HTTP 200 + error 6; `track.getTopTags` answering an unknown track with 200 + an empty list.
Errors are `{"error": N, "message": ...}`. `from`/`to` are applied inclusively (whether Last.fm
includes the bounds is not documented; inclusive is the case that re-sends a boundary scrobble).

Fixtures: tests/lastfm_fixtures.py. Scripted failures (`fail`) answer matching requests before the normal handler does, so a test can
put error 29 inside an HTTP 200, a 503, or a hang (a client timeout) in front of a request.
The server is threaded, so a hanging request does not hold up the client's retry.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sidetrack_pipeline.sources.lastfm import LastfmClient, RetryPolicy
from sidetrack_pipeline.sources.ratelimit import RateLimiter

API_KEY = "test-api-key-0123456789abcdef"
PATH = "/2.0/"

ERROR_MESSAGES = {
    6: "The artist you supplied could not be found",
    8: "Operation failed - Most likely the backend service failed. Please try again.",
    10: "Invalid API key - You must be granted a valid key by last.fm",
    11: "Service Offline - This service is temporarily offline. Try again later.",
    16: "There was a temporary error processing your request. Please try again",
    17: "Login: User required to be logged in",
    26: "Suspended API key - Access for your account has been suspended, please contact Last.fm",
    29: "Rate Limit Exceeded - Your IP has made too many requests in a short period",
}


@dataclass(frozen=True)
class Scrobble:
    uts: int
    artist: str
    track: str
    album: str = ""
    mbid: str = ""
    artist_mbid: str = ""
    album_mbid: str = ""

    def entry(self, now_playing: bool = False) -> dict:
        slug = lambda s: s.replace(" ", "+")  # noqa: E731
        entry = {
            "artist": {"mbid": self.artist_mbid, "#text": self.artist},
            "streamable": "0",
            "image": [{"size": "small", "#text": "https://lastfm.freetls.fastly.net/i/u/34s/x.png"}],
            "mbid": self.mbid,
            "album": {"mbid": self.album_mbid, "#text": self.album},
            "name": self.track,
            "url": f"https://www.last.fm/music/{slug(self.artist)}/_/{slug(self.track)}",
        }
        if now_playing:
            entry["@attr"] = {"nowplaying": "true"}
        else:
            when = datetime.fromtimestamp(self.uts, tz=timezone.utc).strftime("%d %b %Y, %H:%M")
            entry["date"] = {"uts": str(self.uts), "#text": when}
        return entry


@dataclass
class Failure:
    status: int
    body: str
    method: str | None = None
    match: dict | None = None     # request parameters that must match (e.g. {"artist": "X"})
    times: int | None = 1         # None: every matching request, forever
    hang_s: float = 0.0           # wait this long before answering (the client times out first)

    def applies(self, params: dict) -> bool:
        if self.times == 0:
            return False
        if self.method and params.get("method") != self.method:
            return False
        return all(params.get(k) == str(v) for k, v in (self.match or {}).items())


def error_body(code: int, message: str | None = None) -> str:
    body = {"error": code, "message": message or ERROR_MESSAGES.get(code, "error")}
    if code == 6:
        body["links"] = []
    return json.dumps(body)


class FakeLastfm:
    def __init__(self, server: HTTPServer, api_key: str = API_KEY):
        self.server = server
        self.api_key = api_key
        self.scrobbles: dict[str, list[Scrobble]] = {}
        self.now_playing: dict[str, Scrobble] = {}
        self.private_users: set[str] = set()
        self.artist_tags: dict[str, list[tuple[str, int]]] = {}
        self.track_tags: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self.single_object = False          # a one-track page sends `track` as an object
        self.failures: list[Failure] = []
        self.requests: list[dict] = []       # parameters of every request, in order
        self.headers: list[dict] = []
        self.after_page: list = []           # callables(params) run after a recent-tracks page
        self._lock = threading.Lock()
        self._release = threading.Event()
        server.expect_request(PATH).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for(PATH)

    # -- scripting -----------------------------------------------------------------------------

    def add(self, user: str, *scrobbles: Scrobble) -> None:
        self.scrobbles.setdefault(user, []).extend(scrobbles)

    def fail(self, status: int = 200, body: str | None = None, *, error: int | None = None,
             method: str | None = None, match: dict | None = None, times: int | None = 1,
             hang_s: float = 0.0) -> None:
        if error is not None:
            body = error_body(error)
        self.failures.append(Failure(status, body or "", method, match, times, hang_s))

    def calls(self, method: str | None = None) -> list[dict]:
        return [p for p in self.requests if method is None or p.get("method") == method]

    def release_hangs(self) -> None:
        self._release.set()

    # -- the API -------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        params = {k: v for k, v in request.args.items()}
        with self._lock:
            self.requests.append(params)
            self.headers.append(dict(request.headers))
            failure = next((f for f in self.failures if f.applies(params)), None)
            if failure is not None and failure.times is not None:
                failure.times -= 1
        if failure is not None:
            if failure.hang_s:
                self._release.wait(failure.hang_s)
            return Response(failure.body, failure.status,
                            content_type="application/json" if failure.body.startswith("{") else "text/html")
        if params.get("format") != "json":
            return Response("<lfm status=\"failed\"><error code=\"6\">format</error></lfm>", 400,
                            content_type="text/xml")
        if params.get("api_key") != self.api_key:
            return self._json({"error": 10, "message": ERROR_MESSAGES[10]}, 403)
        method = params.get("method")
        if method == "user.getRecentTracks":
            response = self._recent_tracks(params)
            for hook in list(self.after_page):
                hook(params)
            return response
        if method == "artist.getTopTags":
            return self._artist_tags(params)
        if method == "track.getTopTags":
            return self._track_tags(params)
        return self._json({"error": 3, "message": "Invalid Method - No method with that name in this package"}, 400)

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status, content_type="application/json")

    def _recent_tracks(self, params: dict) -> Response:
        user = params.get("user", "")
        if user not in self.scrobbles and user not in self.now_playing:
            return self._json({"error": 6, "message": "User not found"}, 404)
        if user in self.private_users:
            return self._json({"error": 17, "message": ERROR_MESSAGES[17]})
        limit = min(int(params.get("limit", 50)), 200)
        page = int(params.get("page", 1))
        low = int(params["from"]) if "from" in params else -math.inf
        high = int(params["to"]) if "to" in params else math.inf
        chosen = sorted((s for s in self.scrobbles.get(user, []) if low <= s.uts <= high),
                        key=lambda s: -s.uts)
        total_pages = math.ceil(len(chosen) / limit)
        tracks = [s.entry() for s in chosen[(page - 1) * limit: page * limit]]
        if user in self.now_playing:
            tracks.insert(0, self.now_playing[user].entry(now_playing=True))
        attr = {"page": str(page), "total": str(len(chosen)), "user": user,
                "perPage": str(limit), "totalPages": str(total_pages)}
        track_field = tracks[0] if self.single_object and len(tracks) == 1 else tracks
        return self._json({"recenttracks": {"@attr": attr, "track": track_field}})

    @staticmethod
    def _tag_list(tags: list[tuple[str, int]]) -> list[dict]:
        return [{"count": count, "name": name, "url": f"https://www.last.fm/tag/{name.replace(' ', '+')}"}
                for name, count in tags]

    def _artist_tags(self, params: dict) -> Response:
        artist = params.get("artist", "")
        tags = self.artist_tags.get(artist.lower())
        if tags is None:
            return self._json(json.loads(error_body(6)))
        return self._json({"toptags": {"tag": self._tag_list(tags), "@attr": {"artist": artist}}})

    def _track_tags(self, params: dict) -> Response:
        artist, track = params.get("artist", ""), params.get("track", "")
        tags = self.track_tags.get((artist.lower(), track.lower()), [])
        return self._json({"toptags": {"tag": self._tag_list(tags),
                                       "@attr": {"artist": artist, "track": track}}})


FAST_RETRY = RetryPolicy(attempts=4, backoff_s=0.001, max_backoff_s=0.01, rate_limit_penalty_s=0.01)


def client_for(fake: FakeLastfm, lock_dir, **kwargs) -> LastfmClient:
    """A real client pointed at the fake, with a private rate limiter and quick retries."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout_s", 5.0)
    kwargs.setdefault("limiter", RateLimiter(name="lastfm", interval_s=0.001, lock_dir=lock_dir))
    return LastfmClient(kwargs.pop("api_key", fake.api_key), base_url=fake.url, **kwargs)
