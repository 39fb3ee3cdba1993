"""A small ListenBrainz API client: token validation, listen counts and pages of listens.

How each kind of failure is handled:

* HTTP 429, HTTP 5xx, timeouts, connection errors and unreadable (truncated, invalid) JSON are
  retried a bounded number of times with jittered exponential back-off; a 429 waits for its
  `X-RateLimit-Reset-In` instead. When the attempts run out: `ListenBrainzUnavailable`.
* 404 on a user's endpoint -> `UserNotFound`, not retried.
* `validate_token` with an invalid token -> `InvalidToken`, not retried.
* any other 4xx, or a body that is JSON but not the expected shape -> `ListenBrainzError`.

Rate limits: every answer carries `X-RateLimit-Remaining` / `X-RateLimit-Reset-In`; when the
remaining count reaches 0 the next request first sleeps until the window resets (as the official
client does). All sleeping goes through the `sleep` callable given to the client, so tests can
record the waits instead of waiting.

The token travels only in the `Authorization` header of `validate_token`; it is never stored on
the client and never appears in a log line or an exception message.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from sidetrack_pipeline import __version__
from sidetrack_pipeline.sources.listen import Listen
from sidetrack_pipeline.sources.listenbrainz_export import parse_listen

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.listenbrainz.org"
MAX_LISTENS_PER_REQUEST = 1000  # the server silently caps `count` here


def user_agent() -> str:
    """`SideTrack/<version> ( contact )`, the contact from MUSICBRAINZ_CONTACT or SIDETRACK_CONTACT."""
    contact = (os.environ.get("MUSICBRAINZ_CONTACT") or os.environ.get("SIDETRACK_CONTACT") or "").strip()
    return f"SideTrack/{__version__} ( {contact or 'self-hosted music taste analytics'} )"


class ListenBrainzError(Exception):
    """A ListenBrainz request failed in a way retrying will not fix."""


class UserNotFound(ListenBrainzError):
    """ListenBrainz has no user of that name (HTTP 404)."""


class InvalidToken(ListenBrainzError):
    """The user token was rejected (or none was given)."""


class ListenBrainzUnavailable(ListenBrainzError):
    """Rate limits, server errors, timeouts or broken answers outlasted the retries."""


class _Retryable(Exception):
    """One attempt failed in a way that may pass; `wait_s` is the server's own wait, if any."""

    def __init__(self, message: str, wait_s: float | None = None):
        super().__init__(message)
        self.wait_s = wait_s


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6            # tries per request, the first included
    backoff_s: float = 1.0       # exponential back-off multiplier (jittered)
    max_backoff_s: float = 60.0  # longest single back-off
    max_reset_wait_s: float = 900.0  # longest rate-limit reset honoured (guards a bogus header)


@dataclass(frozen=True)
class RejectedListen:
    """A listen of a page that could not be turned into a `Listen` (kept for the report)."""
    listened_at: int
    recording_msid: str | None
    reason: str


@dataclass
class ListensPage:
    """One answer of /1/user/{user}/listens, newest first.

    `timestamps` holds the `listened_at` of every listen received (parsed or rejected), in the
    server's order, so paging never depends on whether a listen could be parsed.
    """
    listens: list[Listen] = field(default_factory=list)
    rejected: list[RejectedListen] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    latest_listen_ts: int | None = None
    oldest_listen_ts: int | None = None

    def __len__(self) -> int:
        return len(self.timestamps)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def api_listen(obj: object) -> Listen:
    """One listen of an API answer -> Listen (ValueError says what is wrong).

    The export parser does the field work (recording_msid is looked up inside track_metadata
    and at the top level, where the API puts it; the ISRC in additional_info).
    """
    return parse_listen(obj)


def parse_listens_page(body: object) -> ListensPage:
    """The JSON body of /listens -> ListensPage; ListenBrainzError when its shape is wrong."""
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict) or not isinstance(payload.get("listens"), list):
        raise ListenBrainzError("listens answer has no payload.listens list")
    page = ListensPage(latest_listen_ts=_int_or_none(payload.get("latest_listen_ts")),
                       oldest_listen_ts=_int_or_none(payload.get("oldest_listen_ts")))
    for position, item in enumerate(payload["listens"]):
        listened_at = _int_or_none(item.get("listened_at")) if isinstance(item, dict) else None
        if listened_at is None:
            # Paging is built on these timestamps; without one the page cannot be trusted.
            raise ListenBrainzError(f"listen {position} of the answer has no integer listened_at")
        page.timestamps.append(listened_at)
        try:
            page.listens.append(api_listen(item))
        except ValueError as exc:
            msid = item.get("recording_msid")
            page.rejected.append(RejectedListen(listened_at, msid if isinstance(msid, str) else None,
                                                str(exc)))
    if page.timestamps != sorted(page.timestamps, reverse=True):
        raise ListenBrainzError("listens answer is not ordered newest first")
    return page


class ListenBrainzClient:
    """Synchronous ListenBrainz client; use as a context manager or call `close()`.

    `sleep` and `clock` are what the client waits with (rate limits, back-off); tests pass a
    recorder so nothing really sleeps.
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, timeout_s: float = 30.0,
                 retry: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, agent: str | None = None):
        if retry.attempts < 1:
            raise ValueError("retry.attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0  # clock time before which no request may go (rate-limit reset)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                  headers={"User-Agent": agent or user_agent(),
                                           "Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ListenBrainzClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ListenBrainzClient({self.base_url!r})"

    # -- one request ---------------------------------------------------------------------------

    def _note_rate_limit(self, response: httpx.Response) -> float | None:
        """Remember when the window resets if it is used up; returns Reset-In when given."""
        try:
            reset_in = float(response.headers["X-RateLimit-Reset-In"])
        except (KeyError, ValueError):
            reset_in = None
        remaining = response.headers.get("X-RateLimit-Remaining", "").strip()
        if reset_in is not None:
            reset_in = min(max(reset_in, 0.0), self.retry.max_reset_wait_s)
            if remaining.isdigit() and int(remaining) == 0:
                self._not_before = max(self._not_before, self._clock() + reset_in)
        return reset_in

    def _wait_for_rate_limit(self) -> None:
        delay = self._not_before - self._clock()
        if delay > 0:
            log.info("ListenBrainz rate limit used up: waiting %.1f s", delay)
            self._sleep(delay)

    def _request_once(self, path: str, params: dict, headers: dict, *, method: str = "GET",
                      json_body: dict | None = None) -> dict:
        self._wait_for_rate_limit()
        try:
            if method == "GET":
                response = self._http.get(path, params=params, headers=headers)
            else:
                response = self._http.request(method, path, params=params, headers=headers, json=json_body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from exc
        reset_in = self._note_rate_limit(response)
        status = response.status_code
        if status == 429:
            if reset_in is not None:  # a little jitter, so parallel clients do not return together
                jitter = random.uniform(0.0, min(1.0, self.retry.backoff_s))
                self._not_before = max(self._not_before, self._clock() + reset_in + jitter)
            raise _Retryable("rate limited (HTTP 429)", wait_s=reset_in)
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            message = f"HTTP {status}: {message or response.reason_phrase}"
            if status == 404 and path.startswith("/1/user/"):
                raise UserNotFound(f"ListenBrainz {path}: {message}")
            if status in (401, 403):
                raise InvalidToken(f"ListenBrainz {path}: {message}")
            raise ListenBrainzError(f"ListenBrainz {path}: {message}")
        if not isinstance(body, dict):
            raise _Retryable(f"unreadable answer (HTTP {status}, {len(response.content)} bytes, "
                             "not a JSON object: truncated or broken)")
        return body

    def _wait(self, state) -> float:
        exc = state.outcome.exception()
        if isinstance(exc, _Retryable) and exc.wait_s is not None:
            # The rate-limit wait is taken by _wait_for_rate_limit before the next attempt.
            return 0.0
        return wait_random_exponential(multiplier=self.retry.backoff_s,
                                       max=self.retry.max_backoff_s)(state)

    def get_json(self, path: str, params: dict | None = None, headers: dict | None = None) -> dict:
        """GET `path`; the decoded JSON object, retried as the module docstring says."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        retrying = Retrying(stop=stop_after_attempt(self.retry.attempts), wait=self._wait,
                            retry=retry_if_exception_type(_Retryable), sleep=self._sleep,
                            reraise=True)
        try:
            return retrying(self._request_once, path, params, headers or {})
        except _Retryable as exc:
            raise ListenBrainzUnavailable(
                f"ListenBrainz {path}: gave up after {self.retry.attempts} attempts; "
                f"last error: {exc}") from exc

    # -- API methods ---------------------------------------------------------------------------

    def validate_token(self, token: str) -> str:
        """The user name the token belongs to; InvalidToken when ListenBrainz rejects it."""
        if not isinstance(token, str) or not token.strip():
            raise InvalidToken("no ListenBrainz token given")
        body = self.get_json("/1/validate-token", headers={"Authorization": f"Token {token.strip()}"})
        user_name = body.get("user_name")
        if body.get("valid") is not True or not isinstance(user_name, str) or not user_name:
            raise InvalidToken("ListenBrainz rejected the token "
                               f"({body.get('message') or 'no reason given'})")
        return user_name

    def create_playlist(self, token: str, jspf: dict) -> str:
        """POST /1/playlist/create with the user's token; the new playlist's MBID.

        Sent once, never retried (a retry after a lost answer could create the playlist twice):
        a 429/5xx/timeout -> ListenBrainzUnavailable, 401/403 -> InvalidToken, another 4xx
        (the server's validation message included) -> ListenBrainzError.
        """
        if not isinstance(token, str) or not token.strip():
            raise InvalidToken("no ListenBrainz token given")
        path = "/1/playlist/create"
        try:
            body = self._request_once(path, {}, {"Authorization": f"Token {token.strip()}"},
                                      method="POST", json_body=jspf)
        except _Retryable as exc:
            raise ListenBrainzUnavailable(f"ListenBrainz {path}: {exc} (not retried)") from exc
        mbid = body.get("playlist_mbid")
        if body.get("status") != "ok" or not isinstance(mbid, str) or not mbid:
            raise ListenBrainzError(f"ListenBrainz {path}: answer has no playlist_mbid")
        return mbid

    def listen_count(self, user: str) -> int:
        body = self.get_json(f"/1/user/{_quote(user)}/listen-count")
        count = body.get("payload", {}).get("count") if isinstance(body.get("payload"), dict) else None
        if _int_or_none(count) is None:
            raise ListenBrainzError("listen-count answer has no payload.count")
        return count

    def get_listens(self, user: str, min_ts: int | None = None, max_ts: int | None = None,
                    count: int = MAX_LISTENS_PER_REQUEST) -> ListensPage:
        """Up to `count` listens with min_ts < listened_at < max_ts (both exclusive), newest first.

        With only `min_ts`, the server returns the `count` listens just after it (still newest
        first); with neither, the newest `count` listens.
        """
        if not 1 <= count <= MAX_LISTENS_PER_REQUEST:
            raise ValueError(f"count must be 1..{MAX_LISTENS_PER_REQUEST}, not {count}")
        if min_ts is not None and max_ts is not None and max_ts <= min_ts:
            raise ValueError(f"max_ts ({max_ts}) must be greater than min_ts ({min_ts})")
        body = self.get_json(f"/1/user/{_quote(user)}/listens",
                             {"min_ts": min_ts, "max_ts": max_ts, "count": count})
        return parse_listens_page(body)


def _quote(user: str) -> str:
    if not isinstance(user, str) or not user.strip():
        raise ValueError("a ListenBrainz user name is required")
    return quote(user.strip(), safe="")
