"""The source-independent shape of one listen, and the identity keys derived from it."""

from __future__ import annotations

import functools
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


# Cached: an import normalises the same few thousand artist names and titles over and over.
@functools.lru_cache(maxsize=1 << 16)
def normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used for name-based identity."""
    if not text.isascii():   # (NFKD leaves ASCII as it is)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    text = _NOT_WORD.sub(" ", text.casefold())
    return " ".join(text.split())


_NOT_WORD = re.compile(r"[^\w]+")
# The form str(uuid.UUID(...)) gives; a value already in it needs no parsing.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def clean_mbid(value: object) -> str | None:
    """A canonical MBID string, or None for missing, empty ('') or malformed values."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value))
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
