"""A small Last.fm API client: recent tracks (as `Listen`s) and top tags.

Last.fm's HTTP status is unreliable: errors arrive in the JSON body (`{"error": N, "message"}`),
often with HTTP 200, so every answer's body is checked before its status. How each kind of
failure is handled:

* 29 rate limit, 11 service offline, 16 temporary, 8 operation failed ("please try again"),
  HTTP 5xx, timeouts, connection errors, unreadable bodies -> retried a bounded number of times
  with jittered exponential back-off (`LastfmUnavailable` when the attempts run out). A 29 also
  pushes the shared rate limiter back, so other processes slow down too.
* 6 not found / bad parameters -> `LastfmNotFound`, not retried.
* 10 invalid key, 26 suspended key (and 4 authentication failed) -> `LastfmKeyError`, not retried.
* 17 login required (a private profile) -> `LastfmPrivateProfile`, not retried.
* any other error code -> `LastfmError`, not retried.

Requests are spaced by a `RateLimiter` shared by all processes (default: 4 requests/s).
The API key is sent as a query parameter and never appears in an exception message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from sidetrack_pipeline import __version__
from sidetrack_pipeline.sources.listen import Listen, clean_mbid
from sidetrack_pipeline.sources.ratelimit import RateLimiter

DEFAULT_BASE_URL = "https://ws.audioscrobbler.com/2.0/"
USER_AGENT = f"SideTrack/{__version__} (self-hosted music taste analytics; python-httpx)"
MAX_PAGE_SIZE = 200
# Epoch seconds a real scrobble can have (Last.fm started in 2002); outside is a broken entry.
_MIN_TS, _MAX_TS = 1_000_000_000, 4_102_444_800

RETRIED_CODES = {8, 11, 16, 29}
KEY_ERROR_CODES = {4, 10, 26}


class LastfmError(Exception):
    """A Last.fm request failed; `code` is Last.fm's error number (None for HTTP/transport)."""

    def __init__(self, message: str, code: int | None = None, method: str | None = None):
        super().__init__(f"Last.fm {method}: {message}" if method else f"Last.fm: {message}")
        self.code = code
        self.method = method


class LastfmNotFound(LastfmError):
    """Error 6: the user, artist or track does not exist (or a parameter is invalid)."""


class LastfmKeyError(LastfmError):
    """Error 10/26/4: the API key is invalid or suspended; nothing will work until it is fixed."""


class LastfmPrivateProfile(LastfmError):
    """Error 17: the user's listening history is private."""


class LastfmUnavailable(LastfmError):
    """A temporary failure (rate limit, service offline, 5xx, timeout); retried before raised."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5                 # tries in all, the first one included
    backoff_s: float = 1.0            # base of the jittered exponential wait
    max_backoff_s: float = 30.0       # longest single wait
    rate_limit_penalty_s: float = 10.0  # how far a 29 pushes back every process's next request


@dataclass(frozen=True)
class TopTag:
    name: str
    count: int  # 0..100, the top tag is 100


@dataclass
class RecentTracksPage:
    listens: list[Listen]
    page: int
    total_pages: int
    total: int
    now_playing: int = 0                                    # now-playing entries skipped
    rejected: list[str] = field(default_factory=list)       # unusable entries, with the reason


def _error_class(code: int) -> type[LastfmError]:
    if code == 6:
        return LastfmNotFound
    if code in KEY_ERROR_CODES:
        return LastfmKeyError
    if code == 17:
        return LastfmPrivateProfile
    if code in RETRIED_CODES:
        return LastfmUnavailable
    return LastfmError


def _as_int(value: object, default: int | None = None) -> int | None:
    """Last.fm sends numbers as strings ("94613"); accept both, refuse anything else."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def _as_list(value: object) -> list:
    """`track`/`tag` is a list, a single object (Libre.fm, one item) or missing (no items)."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    return []


def _text(value: object) -> str | None:
    """A name from either "x" or {"#text": "x"} / {"name": "x"} (extended=1), stripped."""
    if isinstance(value, dict):
        value = value.get("#text") or value.get("name")
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_recent_track(entry: object) -> Listen | None:
    """One `recenttracks.track` entry -> Listen; None for the now-playing entry.

    Raises ValueError (with the reason) for an entry that cannot be a listen.
    """
    if not isinstance(entry, dict):
        raise ValueError("entry is not an object")
    attr = entry.get("@attr") if isinstance(entry.get("@attr"), dict) else {}
    date = entry.get("date")
    if str(attr.get("nowplaying", "")).lower() == "true" and not date:
        return None
    if not isinstance(date, dict):
        raise ValueError("entry has no date")
    uts = _as_int(date.get("uts"))
    if uts is None:
        raise ValueError(f"date.uts is not a number ({date.get('uts')!r})")
    if not _MIN_TS <= uts < _MAX_TS:
        raise ValueError(f"date.uts {uts} is outside the plausible range")
    artist = entry.get("artist")
    artist_name, track_name = _text(artist), _text(entry.get("name"))
    if artist_name is None:
        raise ValueError("missing artist name")
    if track_name is None:
        raise ValueError("missing track name")
    album = entry.get("album") if isinstance(entry.get("album"), dict) else {}
    return Listen(
        played_at=datetime.fromtimestamp(uts, tz=timezone.utc),
        artist_name=artist_name,
        track_name=track_name,
        release_name=_text(album),
        recording_mbid=clean_mbid(entry.get("mbid")),
        artist_mbid=clean_mbid(artist.get("mbid")) if isinstance(artist, dict) else None,
        release_mbid=clean_mbid(album.get("mbid")),
    )


def _describe(entry: object) -> str:
    if isinstance(entry, dict):
        date = entry.get("date") if isinstance(entry.get("date"), dict) else {}
        return f"{_text(entry.get('artist'))!r} - {_text(entry.get('name'))!r} at {date.get('uts')!r}"
    return repr(entry)[:80]


def parse_recent_tracks(body: dict) -> RecentTracksPage:
    """A `user.getRecentTracks` answer -> its listens; unusable entries are set aside with a reason."""
    recent = body.get("recenttracks")
    if not isinstance(recent, dict):
        raise LastfmError("answer has no 'recenttracks'", method="user.getRecentTracks")
    attr = recent.get("@attr") if isinstance(recent.get("@attr"), dict) else {}
    page = RecentTracksPage(
        listens=[],
        page=_as_int(attr.get("page"), 1),
        total_pages=_as_int(attr.get("totalPages"), 0),
        total=_as_int(attr.get("total"), 0),
    )
    for entry in _as_list(recent.get("track")):
        try:
            listen = parse_recent_track(entry)
        except ValueError as exc:
            page.rejected.append(f"{_describe(entry)}: {exc}")
            continue
        if listen is None:
            page.now_playing += 1
        else:
            page.listens.append(listen)
    return page


def parse_top_tags(body: dict, method: str) -> list[TopTag]:
    toptags = body.get("toptags")
    if not isinstance(toptags, dict):
        raise LastfmError("answer has no 'toptags'", method=method)
    tags = []
    for item in _as_list(toptags.get("tag")):
        name = _text(item.get("name")) if isinstance(item, dict) else None
        count = _as_int(item.get("count")) if isinstance(item, dict) else None
        if name is not None and count is not None:
            tags.append(TopTag(name=name, count=max(0, min(count, 100))))
    return tags


class LastfmClient:
    """Synchronous Last.fm client; use as a context manager or call `close()`."""

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL,
                 limiter: RateLimiter | None = None, retry: RetryPolicy = RetryPolicy(),
                 timeout_s: float = 30.0, user_agent: str = USER_AGENT):
        if not api_key or not api_key.strip():
            raise LastfmKeyError("no API key given (set LASTFM_API_KEY)")
        if retry.attempts < 1:
            raise ValueError("retry.attempts must be at least 1")
        self._api_key = api_key.strip()
        self.base_url = base_url
        self.limiter = limiter if limiter is not None else RateLimiter(name="lastfm", interval_s=0.25)
        self.retry = retry
        self._http = httpx.Client(timeout=timeout_s, headers={"User-Agent": user_agent,
                                                              "Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LastfmClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one request ---------------------------------------------------------------------------

    def _request_once(self, method: str, params: dict[str, object]) -> dict:
        query = {"method": method, **{k: v for k, v in params.items() if v is not None},
                 "api_key": self._api_key, "format": "json"}
        self.limiter.wait()
        try:
            response = self._http.get(self.base_url, params=query)
        except httpx.TimeoutException as exc:
            raise LastfmUnavailable(f"timed out ({type(exc).__name__})", method=method) from exc
        except httpx.TransportError as exc:
            raise LastfmUnavailable(f"connection failed ({type(exc).__name__})", method=method) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error" in body:
            code = _as_int(body.get("error"))
            message = str(body.get("message") or "no message")
            if code == 29:
                self.limiter.penalise(self.retry.rate_limit_penalty_s)
            cls = _error_class(code) if code is not None else LastfmError
            raise cls(f"error {code}: {message} (HTTP {response.status_code})", code=code, method=method)
        if response.status_code >= 500 or response.status_code == 429:
            raise LastfmUnavailable(f"HTTP {response.status_code}", method=method)
        if response.status_code >= 400:
            raise LastfmError(f"HTTP {response.status_code}", method=method)
        if not isinstance(body, dict):
            raise LastfmUnavailable(
                f"unreadable answer (HTTP {response.status_code}, "
                f"{response.headers.get('content-type', 'no content type')})", method=method)
        return body

    def call(self, method: str, **params: object) -> dict:
        """GET one API method; the decoded JSON body, or the exception that describes the error."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_random_exponential(multiplier=self.retry.backoff_s, max=self.retry.max_backoff_s),
            retry=retry_if_exception_type(LastfmUnavailable),
            reraise=True,
        )
        return retrying(self._request_once, method, params)

    # -- API methods ---------------------------------------------------------------------------

    def recent_tracks(self, user: str, page: int = 1, limit: int = MAX_PAGE_SIZE,
                      from_ts: int | None = None, to_ts: int | None = None) -> RecentTracksPage:
        """One page (1-based, newest first) of the user's scrobbles, now-playing entry skipped."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be 1..{MAX_PAGE_SIZE}, not {limit}")
        if page < 1:
            raise ValueError(f"page must be 1 or more, not {page}")
        body = self.call("user.getRecentTracks", user=user, page=page, limit=limit,
                         **{"from": from_ts, "to": to_ts})
        return parse_recent_tracks(body)

    def track_top_tags(self, artist: str, track: str) -> list[TopTag]:
        """The track's top tags (an unknown track gives an empty list, sometimes LastfmNotFound)."""
        body = self.call("track.getTopTags", artist=artist, track=track, autocorrect=1)
        return parse_top_tags(body, "track.getTopTags")

    def artist_top_tags(self, artist: str) -> list[TopTag]:
        """The artist's top tags; an unknown artist raises LastfmNotFound."""
        body = self.call("artist.getTopTags", artist=artist, autocorrect=1)
        return parse_top_tags(body, "artist.getTopTags")
