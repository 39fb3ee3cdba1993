"""Checking a ListenBrainz token with the pipeline's own client (validate-token)."""

from __future__ import annotations

import os


def validate(token: str) -> str:
    """The ListenBrainz user name the token belongs to; raises the client's errors."""
    from sidetrack_pipeline.sources.listenbrainz_api import DEFAULT_BASE_URL, ListenBrainzClient, RetryPolicy

    base = os.environ.get("LISTENBRAINZ_BASE_URL") or DEFAULT_BASE_URL
    with ListenBrainzClient(base, timeout_s=10.0, retry=RetryPolicy(attempts=2, max_backoff_s=2.0)) as client:
        return client.validate_token(token)
