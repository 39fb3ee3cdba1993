"""The source-independent shape of one listen, and the identity keys derived from it."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Listen:
    played_at: datetime            # UTC, whole seconds
    artist_name: str
    track_name: str
    release_name: str | None = None
    recording_mbid: str | None = None
    artist_mbid: str | None = None
    release_mbid: str | None = None
    recording_msid: str | None = None
    duration_ms: int | None = None
    isrc: str | None = None


def normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used for name-based identity."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    text = re.sub(r"[^\w]+", " ", text.casefold())
    return " ".join(text.split())


def clean_mbid(value: object) -> str | None:
    """A canonical MBID string, or None for missing, empty ('') or malformed values."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def artist_key(listen_artist: str, mbid: str | None) -> str:
    return f"mbid:{mbid}" if mbid else f"name:{normalise(listen_artist)}"


def release_key(artist_k: str, release_name: str, mbid: str | None) -> str:
    return f"mbid:{mbid}" if mbid else f"name:{artist_k}|{normalise(release_name)}"


def name_key(artist_name: str, title: str) -> str:
    return f"{normalise(artist_name)}|{normalise(title)}"


def track_key(recording_mbid: str | None, artist_name: str, title: str) -> str:
    return f"mbid:{recording_mbid}" if recording_mbid else f"name:{name_key(artist_name, title)}"
