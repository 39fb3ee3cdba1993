"""pytest fixtures for the fake Last.fm (load with `pytest_plugins = ["tests.lastfm_fixtures"]`)."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from tests.fake_lastfm import FakeLastfm


@pytest.fixture(scope="session")
def fake_lastfm_server():
    """One threaded server for the session (stopping one takes half a second)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_lastfm(fake_lastfm_server):
    fake_lastfm_server.clear()
    fake = FakeLastfm(fake_lastfm_server)
    try:
        yield fake
    finally:
        fake.release_hangs()
        fake_lastfm_server.clear()
