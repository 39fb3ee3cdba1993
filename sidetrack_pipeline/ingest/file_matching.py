"""Which local file is each listened track? Plain data in, matches out (no database here).

Methods, strongest first; each pass only sees the tracks and files earlier passes left over:

1. `mbid`: the file's recording MBID is the track's.
2. `isrc`: the file's ISRC is one of the track's ISRCs (from MusicBrainz or from listens).
3. `fuzzy`: artist and title agree after normalisation, and so do the durations and version
   qualifiers (see `name_matching`).
4. `fingerprint`: a file at another path has exactly the bytes (sha256) of the file the track
   matched before: the file was moved or renamed and lost what identified it (its identifiers
   came from a beets database that still has the old path). A file still at its old path
   gets no second chance here: if the passes above no longer match it, the track lost it.

One file is one track's and one track has one file. Within a pass the best candidate wins:
higher score, then no version mismatch, then the nearer duration (whole seconds). A tie on all
of these is *ambiguous*: it is decided by path (for a track's files) or by listen count, then
track id (for a file's tracks), and reported, never decided silently.

Identifiers are trusted as written (no duration check on `mbid`/`isrc` matches), and a differing
recording MBID does not veto a name match: MusicBrainz merges recordings, so an old tag can
carry an MBID that now redirects to the listened one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.fuzz import token_sort_ratio

from sidetrack_pipeline.ingest.name_matching import FUZZY_THRESHOLD, compare, parse_names

log = logging.getLogger(__name__)

METHODS = ("mbid", "isrc", "fuzzy", "fingerprint")


@dataclass(frozen=True)
class ListenedTrack:
    track_id: int
    artist: str
    title: str
    mbid: str | None = None
    isrcs: tuple[str, ...] = ()
    duration_s: float | None = None
    listens: int = 1
    previous_path: str | None = None   # the file it matched last time (track.local_path) ...
    previous_hash: str | None = None   # ... and that file's sha256 (track.fingerprint)


@dataclass(frozen=True)
class LibraryFile:
    path: str
    content_hash: str
    duration_s: float | None = None
    recording_mbid: str | None = None
    isrc: str | None = None
    artist: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Match:
    track_id: int
    path: str
    method: str
    score: float


@dataclass
class Assignment:
    matches: list[Match] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)        # what was decided by a tie-break
    rejected: dict[str, int] = field(default_factory=dict)    # name matches refused: 'duration'/'version'


@dataclass(frozen=True)
class _Candidate:
    track: ListenedTrack
    file: LibraryFile
    score: float
    versions_differ: bool = False

    @property
    def quality(self) -> tuple:
        gap = (round(abs(self.track.duration_s - self.file.duration_s))
               if self.track.duration_s is not None and self.file.duration_s is not None else float("inf"))
        return (-self.score, self.versions_differ, gap)

    @property
    def order(self) -> tuple:
        return (self.quality, -self.track.listens, self.track.track_id, self.file.path)


def _by_identifier(tracks, files, track_ids, file_id) -> list[_Candidate]:
    index: dict[str, list[LibraryFile]] = defaultdict(list)
    for f in files:
        if file_id(f):
            index[file_id(f)].append(f)
    found = {}
    for t in tracks:
        for ident in track_ids(t):
            for f in index.get(ident, ()):
                found[(t.track_id, f.path)] = _Candidate(t, f, 100.0)
    return list(found.values())


def _by_name(tracks, files, rejected: dict[str, int]) -> list[_Candidate]:
    """Fuzzy candidates, comparing titles only within pairs of similar artists."""
    track_names = {t.track_id: parse_names(t.artist, t.title) for t in tracks}
    file_names = {f.path: parse_names(f.artist, f.title) for f in files if f.artist and f.title}
    files_by_artist: dict[str, list[LibraryFile]] = defaultdict(list)
    for f in files:
        if f.path in file_names:
            files_by_artist[file_names[f.path].artist].append(f)
    tracks_by_artist: dict[str, list[ListenedTrack]] = defaultdict(list)
    for t in tracks:
        tracks_by_artist[track_names[t.track_id].artist].append(t)
    file_artists = sorted(files_by_artist)
    found = []
    for artist, artist_tracks in sorted(tracks_by_artist.items()):
        similar = process.extract(artist, file_artists, scorer=token_sort_ratio,  # = artist_score
                                  score_cutoff=FUZZY_THRESHOLD, limit=None)
        for file_artist, _, _ in similar:
            for t in artist_tracks:
                for f in files_by_artist[file_artist]:
                    verdict = compare(track_names[t.track_id], file_names[f.path], t.duration_s, f.duration_s)
                    if verdict.score is not None:
                        found.append(_Candidate(t, f, verdict.score, verdict.versions_differ))
                    elif verdict.reason != "names":
                        rejected[verdict.reason] = rejected.get(verdict.reason, 0) + 1
                        log.info("not matched: %s – %s (%s) and %s (%s): same name, different %s",
                                 t.artist, t.title, _clock(t.duration_s), f.path, _clock(f.duration_s),
                                 "edit (duration)" if verdict.reason == "duration" else "version")
    return found


def _clock(seconds: float | None) -> str:
    return "?:??" if seconds is None else f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _claim(candidates: list[_Candidate], method: str, tracks_done: set, files_done: set,
           result: Assignment) -> None:
    by_track, by_file = defaultdict(list), defaultdict(list)
    for c in candidates:
        by_track[c.track.track_id].append(c)
        by_file[c.file.path].append(c)
    for c in sorted(candidates, key=lambda c: c.order):
        track, path = c.track.track_id, c.file.path
        if track in tracks_done or path in files_done:
            continue
        other_files = [o.file.path for o in by_track[track]
                       if o.file.path != path and o.quality == c.quality and o.file.path not in files_done]
        other_tracks = [o.track.track_id for o in by_file[path]
                        if o.track.track_id != track and o.quality == c.quality
                        and o.track.track_id not in tracks_done]
        tracks_done.add(track)
        files_done.add(path)
        result.matches.append(Match(track, path, method, c.score))
        if other_files:
            result.ambiguous.append(
                f"{c.track.artist} – {c.track.title}: {len(other_files) + 1} files fit equally by {method}; "
                f"took {path} (first by path) over {', '.join(other_files)}")
        if other_tracks:
            result.ambiguous.append(
                f"{path} fits {len(other_tracks) + 1} listened tracks equally by {method}; it is track "
                f"{track}'s (most listens, then lowest id), not track(s) {', '.join(map(str, other_tracks))}'s")


def assign_files(tracks: list[ListenedTrack], files: list[LibraryFile]) -> Assignment:
    """Match listened tracks to files by mbid, isrc, fuzzy names, then fingerprint."""
    result = Assignment()
    tracks_done: set[int] = set()
    files_done: set[str] = set()
    previous_paths = {t.previous_path for t in tracks if t.previous_path}
    for method in METHODS:
        open_tracks = [t for t in tracks if t.track_id not in tracks_done]
        open_files = [f for f in files if f.path not in files_done]
        if method == "mbid":
            found = _by_identifier(open_tracks, open_files, lambda t: [t.mbid] if t.mbid else [],
                                   lambda f: f.recording_mbid)
        elif method == "isrc":
            found = _by_identifier(open_tracks, open_files, lambda t: t.isrcs, lambda f: f.isrc)
        elif method == "fuzzy":
            found = _by_name(open_tracks, open_files, result.rejected)
        else:
            moved = [f for f in open_files if f.path not in previous_paths]
            found = _by_identifier(open_tracks, moved, lambda t: [t.previous_hash] if t.previous_hash else [],
                                   lambda f: f.content_hash)
        _claim(found, method, tracks_done, files_done, result)
    for message in result.ambiguous:
        log.info("ambiguous match: %s", message)
    return result

