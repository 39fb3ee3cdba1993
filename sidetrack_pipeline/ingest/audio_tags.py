"""The tags of one audio file, read the way MusicBrainz Picard (and beets) write them.

Picard's mapping, per tag format (mutagen's "easy" wrappers do not cover it: EasyMP4 has no
ISRC, and WAV/AIFF have no easy mode at all), so each format is read explicitly:

    field          ID3 (MP3, WAV, AIFF)            Vorbis (FLAC, Ogg, Opus)  MP4 (M4A)
    recording id   UFID owner http://musicbrainz.org   MUSICBRAINZ_TRACKID   ----:com.apple.iTunes:MusicBrainz Track Id
    artist id      TXXX:MusicBrainz Artist Id      MUSICBRAINZ_ARTISTID      ----:com.apple.iTunes:MusicBrainz Artist Id
    release id     TXXX:MusicBrainz Album Id       MUSICBRAINZ_ALBUMID       ----:com.apple.iTunes:MusicBrainz Album Id
    ISRC           TSRC                            ISRC                      ----:com.apple.iTunes:ISRC
    artist         TPE1                            ARTIST                    ©ART
    title          TIT2                            TITLE                     ©nam
    album          TALB                            ALBUM                     ©alb

("MusicBrainz Track Id" is the *recording* id in Picard's naming.) Several artist ids are
written as separate values, or joined by '/' in ID3v2.3; the first is the main artist.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import mutagen
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags
from mutagen._vorbis import VCommentDict  # FLAC, Ogg Vorbis and Opus comments all are one

from sidetrack_pipeline.sources.isrc import clean_isrc
from sidetrack_pipeline.sources.listen import clean_mbid

log = logging.getLogger(__name__)

FIELDS = ("musicbrainz_trackid", "musicbrainz_artistid", "musicbrainz_albumid", "isrc",
          "artist", "title", "album")
_MP4_FREEFORM = {"musicbrainz_trackid": "MusicBrainz Track Id", "musicbrainz_artistid": "MusicBrainz Artist Id",
                 "musicbrainz_albumid": "MusicBrainz Album Id", "isrc": "ISRC"}
_MP4_TEXT = {"artist": "©ART", "title": "©nam", "album": "©alb"}
_ID3_TEXT = {"isrc": "TSRC", "artist": "TPE1", "title": "TIT2", "album": "TALB"}
_ID3_TXXX = {"musicbrainz_trackid": "musicbrainz track id", "musicbrainz_artistid": "musicbrainz artist id",
             "musicbrainz_albumid": "musicbrainz album id", "isrc": "isrc"}


@dataclass(frozen=True)
class FileTags:
    """What one file says about itself; `values` keeps the raw strings per field (stored as jsonb)."""

    readable: bool = False               # mutagen could parse the file
    duration_s: float | None = None
    recording_mbid: str | None = None
    artist_mbid: str | None = None
    release_mbid: str | None = None
    isrc: str | None = None
    artist: str | None = None
    title: str | None = None
    album: str | None = None
    values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def identified(self) -> bool:
        """Enough to match the file at all: a recording id, an ISRC, or artist and title."""
        return bool(self.recording_mbid or self.isrc or (self.artist and self.title))


def _text(values: list) -> list[str]:
    # PostgreSQL text cannot hold NUL; tag values sometimes carry one as a terminator.
    return [s for s in (str(v).replace("\x00", "").strip() for v in values) if s]


def _id3(tags: ID3) -> dict[str, list[str]]:
    txxx = {frame.desc.casefold(): _text(frame.text) for frame in tags.getall("TXXX")}
    found = {name: _text(tags[frame].text) if frame in tags else [] for name, frame in _ID3_TEXT.items()}
    for name, desc in _ID3_TXXX.items():
        found[name] = found.get(name) or txxx.get(desc, [])
    recording = next((f.data for f in tags.getall("UFID") if f.owner == "http://musicbrainz.org"), None)
    if recording:
        found["musicbrainz_trackid"] = _text([recording.decode("ascii", "replace")])
    return found


def _mp4(tags: MP4Tags) -> dict[str, list[str]]:
    found = {name: _text(tags.get(atom, [])) for name, atom in _MP4_TEXT.items()}
    for name, desc in _MP4_FREEFORM.items():
        raw = tags.get(f"----:com.apple.iTunes:{desc}", [])
        found[name] = _text(bytes(v).decode("utf-8", "replace") for v in raw)
    return found


def _vorbis(tags: VCommentDict) -> dict[str, list[str]]:
    as_dict = tags.as_dict()  # lower-case keys, every value of each
    return {name: _text(as_dict.get(name, [])) for name in FIELDS}


def _first_mbid(values: list[str]) -> str | None:
    for value in values:
        for part in re.split(r"[/;]", value):
            if mbid := clean_mbid(part):
                return mbid
    return None


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def read_tags(path: Path) -> FileTags:
    """The file's identifiers, names and duration; FileTags(readable=False) when mutagen cannot
    parse it (a broken or non-audio file: logged, never raised)."""
    try:
        audio = mutagen.File(path)
    except Exception as exc:  # mutagen raises many types for broken files
        log.warning("cannot read tags of %s: %s", path, exc)
        return FileTags()
    if audio is None:
        log.warning("cannot read tags of %s: not an audio format mutagen knows", path)
        return FileTags()
    length = getattr(audio.info, "length", None)
    duration = float(length) if length and length > 0 else None
    tags = audio.tags
    if isinstance(tags, ID3):
        found = _id3(tags)
    elif isinstance(tags, MP4Tags):
        found = _mp4(tags)
    elif isinstance(tags, VCommentDict):
        found = _vorbis(tags)
    else:  # no tags at all, or a tag format Picard does not write for these files
        found = {}
    artists = found.get("artist", [])
    return FileTags(
        readable=True, duration_s=duration,
        recording_mbid=_first_mbid(found.get("musicbrainz_trackid", [])),
        artist_mbid=_first_mbid(found.get("musicbrainz_artistid", [])),
        release_mbid=_first_mbid(found.get("musicbrainz_albumid", [])),
        isrc=next((i for i in map(clean_isrc, found.get("isrc", [])) if i), None),
        # Several ARTIST values (some taggers) are one credit: "A & B".
        artist=" & ".join(artists) if artists else None,
        title=_first(found.get("title", [])), album=_first(found.get("album", [])),
        values={name: vals for name, vals in found.items() if vals},
    )
