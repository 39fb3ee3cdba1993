"""A polite MusicBrainz WS/2 client: lookups, recording search, shared rate limit, cached responses.

* Identifies itself as `SideTrack/<version> ( <contact> )`; the contact (an e-mail address or
  URL) comes from the `contact` argument or $MUSICBRAINZ_CONTACT, and the client refuses to
  start without one (MusicBrainz blocks anonymous agents).
* At most one request per `interval_s` (default 1.05 s) across **all processes** on the machine,
  through the shared `RateLimiter` named "musicbrainz": each request holds the limiter's slot
  until its answer arrives, and the next may start `interval_s` later, so the spacing holds at
  the server whatever the latency.
* 503 (the rate limit), 429, other 5xx and transport errors are retried a bounded number of times
  with exponential back-off and jitter (honouring Retry-After); each back-off also `penalise`s
  the shared limiter so the other processes back off too.
* 404 raises `NotFound`, a malformed MBID (400 "Invalid mbid.") raises `InvalidMbid`.
* Responses (200 and 404) go through an optional `cache` with `get(url) -> (status, body) | None`
  and `put(url, status, body, ttl_s)`; a cached answer costs no request.

Base URL: the `base_url` argument, $MUSICBRAINZ_BASE_URL, or https://musicbrainz.org/ws/2/.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from sidetrack_pipeline import __version__
from sidetrack_pipeline.sources.musicbrainz_match import SearchMatch, choose_recording, recording_query
from sidetrack_pipeline.sources.ratelimit import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://musicbrainz.org/ws/2/"
RECORDING_INC = "artists+releases+isrcs+tags+genres+release-groups+recording-rels+work-rels"
RELEASE_INC = "labels+release-groups+artist-credits"
ARTIST_INC = "tags+genres"
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
TTL_FOUND_S = 30 * 86400
TTL_NOT_FOUND_S = 7 * 86400
TTL_SEARCH_S = 7 * 86400


class MusicBrainzError(RuntimeError):
    """MusicBrainz answered something this client cannot use."""


class MusicBrainzConfigError(MusicBrainzError):
    pass


class NotFound(MusicBrainzError):
    pass


class InvalidMbid(MusicBrainzError, ValueError):
    pass


class MusicBrainzUnavailable(MusicBrainzError):
    """Still rate-limited or failing after every retry."""


class ResponseCache(Protocol):
    def get(self, url: str) -> tuple[int, dict | None] | None: ...
    def put(self, url: str, status: int, body: dict | None, ttl_s: float | None) -> None: ...


class _Retryable(Exception):
    def __init__(self, status: int, retry_after: float | None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def user_agent(contact: str | None) -> str:
    contact = (contact if contact is not None else os.environ.get("MUSICBRAINZ_CONTACT", "")).strip()
    if not contact:
        raise MusicBrainzConfigError(
            "MusicBrainz requires a contact in the User-Agent: set MUSICBRAINZ_CONTACT to your "
            "e-mail address or a URL (e.g. MUSICBRAINZ_CONTACT=you@example.org)")
    return f"SideTrack/{__version__} ( {contact} )"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _json_or_none(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class MusicBrainzClient:
    """One polite MusicBrainz client. `interval_s`: the least time between two requests of all
    processes sharing `lock_dir` (default $SIDETRACK_HOME/ratelimit); `max_attempts`, `backoff_s`
    and `max_backoff_s` bound the retries (waits of backoff_s·2^(n-1) plus up to backoff_s jitter)."""

    def __init__(self, contact: str | None = None, *, base_url: str | None = None,
                 cache: ResponseCache | None = None, interval_s: float = 1.05,
                 lock_dir: str | Path | None = None, max_attempts: int = 5, backoff_s: float = 2.0,
                 max_backoff_s: float = 60.0, timeout_s: float = 30.0):
        self.user_agent = user_agent(contact)
        base = base_url or os.environ.get("MUSICBRAINZ_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = base if base.endswith("/") else base + "/"
        self.cache = cache
        self.limiter = RateLimiter("musicbrainz", interval_s, lock_dir)
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self._backoff = wait_exponential_jitter(multiplier=backoff_s, max=max_backoff_s, jitter=backoff_s)
        self.http = httpx.Client(timeout=timeout_s, headers={
            "User-Agent": self.user_agent, "Accept": "application/json"})
        self.requests_sent = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MusicBrainzClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- public calls -------------------------------------------------------------------------

    def lookup_recording(self, mbid: str) -> dict:
        return self._lookup("recording", mbid, RECORDING_INC)

    def lookup_release(self, mbid: str) -> dict:
        return self._lookup("release", mbid, RELEASE_INC)

    def lookup_artist(self, mbid: str) -> dict:
        return self._lookup("artist", mbid, ARTIST_INC)

    def search_recordings(self, title: str, artist: str, limit: int = 10) -> list[dict]:
        """Search hits (each with an integer `score`), best first as MusicBrainz orders them."""
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        body = self._get("recording", {"query": recording_query(title, artist), "limit": limit},
                         TTL_SEARCH_S)
        return list(body.get("recordings") or [])

    def find_recording(self, title: str, artist: str, duration_ms: int | None = None) -> SearchMatch:
        """Search by title and artist and choose a hit (see musicbrainz_match)."""
        return choose_recording(self.search_recordings(title, artist), duration_ms)

    # --- plumbing -----------------------------------------------------------------------------

    def _lookup(self, entity: str, mbid: str, inc: str) -> dict:
        try:
            return self._get(f"{entity}/{quote(str(mbid).strip(), safe='')}", {"inc": inc}, TTL_FOUND_S)
        except InvalidMbid:
            raise InvalidMbid(f"MusicBrainz rejected {mbid!r} as an invalid {entity} MBID") from None

    def url(self, path: str, params: dict) -> str:
        query = [f"{k}={quote(str(v), safe='+' if k == 'inc' else '')}" for k, v in params.items()]
        return f"{self.base_url}{path}?" + "&".join(query + ["fmt=json"])

    def _get(self, path: str, params: dict, ttl_s: float) -> dict:
        url = self.url(path, params)
        cached = self.cache.get(url) if self.cache is not None else None
        if cached is not None:
            status, body = cached
        else:
            status, body = self._fetch(url)
            if self.cache is not None and (status == 404 or (status == 200 and body is not None)):
                self.cache.put(url, status, body, ttl_s if status == 200 else TTL_NOT_FOUND_S)
        return self._interpret(url, status, body)

    @staticmethod
    def _interpret(url: str, status: int, body: dict | None) -> dict:
        error = (body or {}).get("error", "")
        if status == 200:
            if body is None:
                raise MusicBrainzError(f"MusicBrainz answered 200 without a JSON object for {url}")
            return body
        if status == 404:
            raise NotFound(f"MusicBrainz has nothing at {url}")
        if status == 400 and "mbid" in str(error).lower():
            raise InvalidMbid(f"MusicBrainz rejected the MBID in {url}: {error}")
        detail = f" ({error})" if error else ""
        raise MusicBrainzError(f"MusicBrainz answered {status}{detail} for {url}")

    def _wait(self, retry_state) -> float:
        delay = self._backoff(retry_state)
        retry_after = getattr(retry_state.outcome.exception(), "retry_after", None)
        return max(delay, min(retry_after, self.max_backoff_s)) if retry_after else delay

    def _before_sleep(self, retry_state) -> None:
        delay = retry_state.next_action.sleep
        self.limiter.penalise(delay)  # every other process waits too
        log.warning("MusicBrainz: %s; backing off %.1f s (attempt %d of %d)",
                    retry_state.outcome.exception(), delay, retry_state.attempt_number, self.max_attempts)

    def _fetch(self, url: str) -> tuple[int, dict | None]:
        retrying = Retrying(stop=stop_after_attempt(self.max_attempts), wait=self._wait,
                            retry=retry_if_exception_type((_Retryable, httpx.TransportError)),
                            before_sleep=self._before_sleep, reraise=True)
        try:
            for attempt in retrying:
                with attempt, self.limiter.slot():
                    self.requests_sent += 1
                    response = self.http.get(url)
                    if response.status_code in RETRYABLE_STATUSES:
                        raise _Retryable(response.status_code, _retry_after(response))
        except (_Retryable, httpx.TransportError) as exc:
            raise MusicBrainzUnavailable(
                f"MusicBrainz still unavailable after {self.max_attempts} attempts ({exc}): {url}") from exc
        return response.status_code, _json_or_none(response)
