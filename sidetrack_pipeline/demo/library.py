"""Build the demo music library: tagged FLAC files plus `ground_truth.json`.

The library is a deterministic function of `(n_tracks, seed, duration_s)`. Its tracks cover the
whole (tempo, brightness) plane (stratified sampling, so later demos can pick "faster and darker"
drifts or abrupt shifts), every key in both modes, sparse/quiet to dense/loud, mono to wide and
dry to heavily side-chained. Twelve invented artists each get one or two releases; artists have a
home tempo region (like real producers) but spread across brightness.

Layout: `out_dir/<artist>/<release>/<nn> - <title>.flac`, tagged with ARTIST, TITLE, ALBUM,
TRACKNUMBER and MusicBrainz-style ids (uuid5, stable across builds). A SIDETRACK_SPEC_HASH tag
lets a rebuild skip files that are already up to date, so building twice is cheap and leaves the
existing files byte-for-byte untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC, error as FlacError

from sidetrack_pipeline.demo.synth import MODES, PITCH_NAMES, TrackSpec, render

SAMPLE_RATE = 44100
SYNTH_VERSION = "synth-2"  # bump when render() changes audibly, so files get re-rendered
GROUND_TRUTH_FILE = "ground_truth.json"
SPEC_HASH_TAG = "SIDETRACK_SPEC_HASH"
_MBID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://sidetrack.invalid/demo-library")

ARTISTS = (
    "Halcyon Drift", "Nervous Orbit", "Saltmarsh Radio", "Kestrel Lane", "Ferric Bloom",
    "Low Tide Assembly", "Quiet Parade", "Vantablack Motel", "Arcadia Static", "Moth & Lantern",
    "Ultraviolet Fern", "Concrete Lullaby",
)
_ADJECTIVES = (
    "Amber", "Broken", "Cold", "Distant", "Electric", "Faded", "Glass", "Hollow", "Indigo",
    "Jade", "Kinetic", "Lunar", "Midnight", "Neon", "Open", "Pale", "Quiet", "Rust", "Silver",
    "Tidal", "Velvet", "Warm", "Static", "Golden", "Sunken", "Violet", "Paper", "Night",
)
_NOUNS = (
    "Harbour", "Signal", "Cathedral", "Engine", "Garden", "Horizon", "Circuit", "Lanterns",
    "Motorway", "Orchard", "Parallax", "Reservoir", "Satellite", "Tramlines", "Undertow",
    "Weather", "Archive", "Bloom", "Corridor", "Dunes", "Echoes", "Frequencies", "Glacier",
    "Isotope", "Mirage", "Pylons", "Rooftops", "Shoreline",
)
_RELEASE_KINDS = ("EP", "LP", "", "Sessions", "")


@dataclass(frozen=True)
class DemoTrack:
    """One rendered demo track and its ground truth."""

    path: Path
    artist: str
    title: str
    release: str
    track_number: int
    recording_mbid: str
    artist_mbid: str
    release_mbid: str
    duration_s: float
    spec: TrackSpec

    def ground_truth(self, out_dir: Path) -> dict:
        spec = self.spec
        return {
            "path": self.path.relative_to(out_dir).as_posix(),
            "artist": self.artist,
            "title": self.title,
            "release": self.release,
            "track_number": self.track_number,
            "recording_mbid": self.recording_mbid,
            "artist_mbid": self.artist_mbid,
            "release_mbid": self.release_mbid,
            "tempo_bpm": spec.tempo_bpm,
            "key": spec.key_name,
            "mode": spec.mode,
            "brightness": spec.brightness,
            "density": spec.density,
            "width": spec.width,
            "ducking": spec.ducking,
            "style": spec.resolved_style,
            "gain_db": spec.gain_db,
            "seed": spec.seed,
            "duration_s": self.duration_s,
        }


# --------------------------------------------------------------------------- planning

def plan_library(n_tracks: int = 48, seed: int = 7, duration_s: float = 32.0,
                 out_dir: Path = Path(".")) -> list[DemoTrack]:
    """The library's tracks (names, ids, specs) without rendering anything."""
    max_tracks = len(_ADJECTIVES) * len(_NOUNS) - 2 * len(ARTISTS)
    if not 1 <= n_tracks <= max_tracks:
        raise ValueError(f"n_tracks must be in 1..{max_tracks}")
    rng = np.random.default_rng(seed)
    specs = _plan_specs(rng, n_tracks, seed, duration_s)
    names = _unique_titles(rng, n_tracks + 2 * len(ARTISTS))
    titles, release_names = names[:n_tracks], names[n_tracks:]

    # Tracks are sorted by tempo, so consecutive blocks give each artist a home tempo region.
    n_artists = min(len(ARTISTS), n_tracks)
    blocks = np.array_split(np.arange(n_tracks), n_artists)
    tracks = []
    for a, block in enumerate(blocks):
        artist = ARTISTS[a]
        two_releases = len(block) >= 4 and a % 3 != 2
        halves = np.array_split(block, 2) if two_releases else [block]
        for r, members in enumerate(halves):
            kind = _RELEASE_KINDS[(a + r) % len(_RELEASE_KINDS)]
            release = f"{release_names[2 * a + r]} {kind}".strip()
            for number, i in enumerate(members, start=1):
                title = titles[i]
                name = f"{number:02d} - {_safe(title)}.flac"
                path = out_dir / _safe(artist) / _safe(release) / name
                tracks.append(DemoTrack(
                    path=path, artist=artist, title=title, release=release,
                    track_number=number,
                    recording_mbid=_mbid("recording", artist, release, title),
                    artist_mbid=_mbid("artist", artist),
                    release_mbid=_mbid("release", artist, release),
                    duration_s=float(duration_s), spec=specs[i]))
    return tracks


def _plan_specs(rng: np.random.Generator, n: int, seed: int, duration_s: float) -> list[TrackSpec]:
    tempos = np.sort(_stratified(rng, n, 70.0, 175.0))
    # brightness is stratified *within* each group of 4 consecutive tempos: full plane coverage
    groups = np.array_split(np.arange(n), max(1, n // 4))
    brightness = np.concatenate(
        [rng.permutation(_stratified(rng, len(g), 0.05, 0.95)) for g in groups])
    density = rng.permutation(_stratified(rng, n, 0.1, 0.95))
    width = rng.permutation(_stratified(rng, n, 0.0, 1.0))
    width[rng.permutation(n)[: max(1, n // 6)]] = 0.0  # some strictly mono tracks
    ducking = np.zeros(n)
    ducked = rng.permutation(n)[: (n + 1) // 2]
    ducking[ducked] = rng.permutation(_stratified(rng, len(ducked), 0.25, 0.9))
    keys = rng.permutation(np.arange(n) % 12)
    # alternate modes per key (each key gets both), starting with a random mode per key
    first = rng.integers(2, size=12)
    seen = np.zeros(12, dtype=int)
    modes = []
    for k in keys:
        modes.append(MODES[(first[k] + seen[k]) % 2])
        seen[k] += 1
    return [
        TrackSpec(
            tempo_bpm=round(float(tempos[i]), 1), key=int(keys[i]), mode=modes[i],
            brightness=round(float(brightness[i]), 3), density=round(float(density[i]), 3),
            width=round(float(width[i]), 3), ducking=round(float(ducking[i]), 3),
            duration_s=float(duration_s), seed=seed * 1000 + i,
            gain_db=round(-9.0 * (1.0 - float(density[i])) ** 1.5, 2),  # sparse = quieter
        )
        for i in range(n)
    ]


def _stratified(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """One jittered sample per equal-width stratum of [low, high]."""
    edges = np.linspace(low, high, n + 1)
    return edges[:-1] + rng.random(n) * (edges[1:] - edges[:-1])


def _unique_titles(rng: np.random.Generator, count: int) -> list[str]:
    pairs = [(a, b) for a in _ADJECTIVES for b in _NOUNS]
    order = rng.permutation(len(pairs))[:count]
    return [f"{pairs[i][0]} {pairs[i][1]}" for i in order]


def _mbid(kind: str, *parts: str) -> str:
    return str(uuid.uuid5(_MBID_NAMESPACE, "/".join((kind, *parts))))


def _safe(name: str) -> str:
    return "".join("_" if c in '/\\:*?"<>|' else c for c in name).strip() or "_"


# --------------------------------------------------------------------------- rendering

def build_demo_library(out_dir: Path, n_tracks: int = 48, seed: int = 7,
                       duration_s: float = 32.0, workers: int = 1) -> list[DemoTrack]:
    """Render (or reuse) every track of the demo library and write `ground_truth.json`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tracks = plan_library(n_tracks, seed, duration_s, out_dir)
    todo = [t for t in tracks if _current_hash(t.path) != _spec_hash(t)]
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_write_track, todo))
    else:
        for track in todo:
            _write_track(track)
    _write_json(out_dir / GROUND_TRUTH_FILE, [t.ground_truth(out_dir) for t in tracks])
    return tracks


def load_ground_truth(out_dir: Path) -> list[dict]:
    """The ground-truth records written by `build_demo_library` (paths relative to out_dir)."""
    with open(Path(out_dir) / GROUND_TRUTH_FILE, encoding="utf-8") as f:
        return json.load(f)


def _tags(track: DemoTrack) -> dict[str, str]:
    return {
        "ARTIST": track.artist,
        "TITLE": track.title,
        "ALBUM": track.release,
        "ALBUMARTIST": track.artist,
        "TRACKNUMBER": str(track.track_number),
        "GENRE": "Electronic",
        "MUSICBRAINZ_TRACKID": track.recording_mbid,
        "MUSICBRAINZ_ARTISTID": track.artist_mbid,
        "MUSICBRAINZ_ALBUMID": track.release_mbid,
        "MUSICBRAINZ_ALBUMARTISTID": track.artist_mbid,
    }


def _spec_hash(track: DemoTrack) -> str:
    payload = {"synth": SYNTH_VERSION, "sr": SAMPLE_RATE, "spec": track.spec.to_dict(),
               "tags": _tags(track)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _current_hash(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        values = FLAC(str(path)).get(SPEC_HASH_TAG.lower()) or []
    except (FlacError, OSError):
        return None
    return values[0] if values else None


def _write_track(track: DemoTrack) -> None:
    audio = render(track.spec, SAMPLE_RATE)
    track.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = track.path.with_name(track.path.name + ".part")
    sf.write(str(tmp), audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    flac = FLAC(str(tmp))
    for key, value in _tags(track).items():
        flac[key] = value
    flac[SPEC_HASH_TAG] = _spec_hash(track)
    flac.save()
    os.replace(tmp, track.path)  # atomic: a half-written file never carries a valid hash


def _write_json(path: Path, records: list[dict]) -> None:
    text = json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


__all__ = [
    "DemoTrack", "GROUND_TRUTH_FILE", "PITCH_NAMES", "build_demo_library", "load_ground_truth",
    "plan_library",
]
