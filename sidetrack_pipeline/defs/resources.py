"""Dagster resources: the database and the compute device."""


import os
from contextlib import contextmanager
from typing import Iterator

import dagster as dg

from sidetrack_pipeline.db.connection import connect, database_url, libpq_params
from sidetrack_pipeline.db.migrate import upgrade
from sidetrack_pipeline.devices import select_device
from sidetrack_pipeline.settings import get_settings


class DatabaseResource(dg.ConfigurableResource):
    """PostgreSQL + pgvector: SIDETRACK_DATABASE_URL, or the embedded server (started on demand)."""

    url: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every run brings the schema up to date first (idempotent, cheap when current).
        upgrade(self.get_url())

    def get_url(self) -> str:
        return self.url or database_url()

    @contextmanager
    def connect(self) -> Iterator:
        """One psycopg2 transaction: committed on success, rolled back on error."""
        with connect(self.get_url()) as conn:
            yield conn

    def dbt_env(self) -> dict[str, str]:
        """The SIDETRACK_PG* variables dbt_project/profiles.yml reads."""
        params = libpq_params(self.get_url())
        return {f"SIDETRACK_PG{k.upper() if k != 'dbname' else 'DATABASE'}": v for k, v in params.items()}


class DeviceResource(dg.ConfigurableResource):
    """Where tensor work runs: TORCH_DEVICE=auto|cuda|cpu, with automatic CPU fallback."""

    preference: str | None = None   # default: the TORCH_DEVICE setting

    def select(self, log=None) -> str:
        device, reason = select_device(self.preference or get_settings().torch_device)
        if log is not None:
            log.info(f"compute device: {device} ({reason})")
        return device


# --- one resource per web service; clients are plain Python (sidetrack_pipeline.sources) ------

class ListenBrainzResource(dg.ConfigurableResource):
    """The ListenBrainz API (reading listens needs no token; a stored token is validated)."""

    base_url: str | None = None   # default: LISTENBRAINZ_BASE_URL, else the public API
    timeout_s: float = 30.0
    retry_attempts: int = 6       # tries per request (429/5xx/connection errors), the first included
    retry_backoff_s: float = 1.0  # first back-off; doubles, jittered

    def client(self):
        from sidetrack_pipeline.sources.listenbrainz_api import (DEFAULT_BASE_URL, ListenBrainzClient,
                                                                 RetryPolicy)

        return ListenBrainzClient(
            self.base_url or os.environ.get("LISTENBRAINZ_BASE_URL") or DEFAULT_BASE_URL,
            timeout_s=self.timeout_s,
            retry=RetryPolicy(attempts=self.retry_attempts, backoff_s=self.retry_backoff_s))


class LastfmResource(dg.ConfigurableResource):
    """The Last.fm API; the key comes from LASTFM_API_KEY unless configured here."""

    api_key: str | None = None
    base_url: str | None = None

    def configured(self) -> bool:
        return bool(self.api_key or os.environ.get("LASTFM_API_KEY", "").strip())

    def client(self):
        from sidetrack_pipeline.sources.lastfm import DEFAULT_BASE_URL, LastfmClient

        return LastfmClient(self.api_key or os.environ.get("LASTFM_API_KEY", ""),
                            base_url=self.base_url or os.environ.get("LASTFM_BASE_URL") or DEFAULT_BASE_URL)


class MusicBrainzResource(dg.ConfigurableResource):
    """MusicBrainz WS/2: the contact for the User-Agent comes from MUSICBRAINZ_CONTACT unless
    configured here; requests are spaced >= 1 s apart across every process (RateLimiter)."""

    contact: str | None = None
    base_url: str | None = None

    def configured(self) -> bool:
        return bool(self.contact or os.environ.get("MUSICBRAINZ_CONTACT", "").strip())

    @contextmanager
    def client(self, database_url: str) -> Iterator:
        """A client whose response cache has its own autocommit connection, so a cached answer
        survives the rollback of the track that asked for it."""
        from sidetrack_pipeline.ingest.response_cache import DbResponseCache
        from sidetrack_pipeline.sources.musicbrainz import MusicBrainzClient

        with DbResponseCache.open(database_url) as cache, \
                MusicBrainzClient(self.contact, base_url=self.base_url, cache=cache) as client:
            yield client
