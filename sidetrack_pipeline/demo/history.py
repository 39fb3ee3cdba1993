"""A seeded listening history over the demo library, written as a real ListenBrainz export zip.

The taste it encodes is known, so the pipeline's findings can be checked against it:
- a gradual drift over the whole period towards faster and darker tracks;
- one abrupt regime shift at `shift_week`: from sparse, mostly-major listening to dense,
  mostly-minor listening (energy jumps up, valence drops).
Listens happen at plausible local hours in the user's time zone; lines carry the quirks of real
exports (fractional timestamps, `mbid_mapping: null`, empty-string MBIDs, unknown keys).
"""

from __future__ import annotations

import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

DEMO_USER = "demo"
DEMO_TIMEZONE = "Europe/Berlin"
START_WEEK = date(2024, 6, 3)       # a Monday
N_WEEKS = 86                        # ~20 months
SHIFT_WEEK_INDEX = 58               # the abrupt shift starts this week (0-based)
_ZIP_TIME = (2026, 1, 26, 12, 0, 0)  # fixed member timestamps keep the zip byte-identical


@dataclass(frozen=True)
class DemoHistory:
    path: Path
    user: str
    timezone: str
    listens: int
    first_week: date
    last_week: date
    shift_week: date


def _preference(tracks: list[dict], week: int) -> np.ndarray:
    """Sampling weights over tracks for one week: drift in tempo/brightness, shift in density/mode."""
    progress = week / (N_WEEKS - 1)
    after_shift = week >= SHIFT_WEEK_INDEX
    target_tempo = 95 + 45 * progress
    target_brightness = 0.75 - 0.45 * progress
    target_density = 0.85 if after_shift else 0.3
    p_minor = 0.9 if after_shift else 0.2
    tempo = np.array([t["tempo_bpm"] for t in tracks], dtype=float)
    brightness = np.array([t["brightness"] for t in tracks], dtype=float)
    density = np.array([t["density"] for t in tracks], dtype=float)
    minor = np.array([t["mode"] == "minor" for t in tracks])
    weight = np.exp(-((tempo - target_tempo) / 30) ** 2
                    - ((brightness - target_brightness) / 0.3) ** 2
                    - ((density - target_density) / 0.2) ** 2)
    weight *= np.where(minor, p_minor, 1 - p_minor)
    weight += 1e-4  # every track stays possible
    return weight / weight.sum()


def _listen_line(track: dict, played_at: float, rng: np.random.Generator) -> dict:
    """One export line in ListenBrainz's shape, with the quirks real exports have."""
    style = rng.random()
    info: dict = {
        "submission_client": "navidrome", "submission_client_version": "0.58.0",
        "duration_ms": int(round(track["duration_s"] * 1000)), "tracknumber": track.get("tracknumber", 1),
        "music_service": "local",
    }
    mapping = None
    if style < 0.55:      # scrobbled with MBIDs from tags and mapped by ListenBrainz
        info.update(recording_mbid=track["recording_mbid"], artist_mbids=[track["artist_mbid"]],
                    release_mbid=track["release_mbid"])
        mapping = {
            "recording_mbid": track["recording_mbid"], "recording_name": track["title"],
            "release_mbid": track["release_mbid"], "artist_mbids": [track["artist_mbid"]],
            "artists": [{"artist_mbid": track["artist_mbid"], "artist_credit_name": track["artist"],
                         "join_phrase": ""}],
            "caa_id": None, "caa_release_mbid": None,
        }
    elif style < 0.8:     # MBIDs in additional_info, unmapped
        info.update(recording_mbid=track["recording_mbid"], artist_mbids=[track["artist_mbid"]],
                    release_mbid="")
    else:                 # a client that sends no MBIDs at all: name-only
        info.update(recording_mbid="", artist_mbids=[], listening_from="web")
    msid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"msid:{track['artist']}|{track['title']}"))
    return {
        "listened_at": round(played_at, 6),
        "inserted_at": round(played_at + float(rng.uniform(1, 600)), 6),
        "track_metadata": {
            "artist_name": track["artist"], "track_name": track["title"],
            "release_name": track["release"], "recording_msid": msid,
            "additional_info": info, "mbid_mapping": mapping,
        },
    }


def generate_history(tracks: list[dict], seed: int = 11) -> list[dict]:
    """All listen lines, oldest first. `tracks` are the library's ground-truth entries."""
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(DEMO_TIMEZONE)
    lines = []
    for week in range(N_WEEKS):
        probs = _preference(tracks, week)
        monday = START_WEEK + timedelta(weeks=week)
        for _ in range(int(rng.integers(35, 70))):
            track = tracks[int(rng.choice(len(tracks), p=probs))]
            day = monday + timedelta(days=int(rng.integers(0, 7)))
            hour = float(rng.choice([8, 12, 18, 20, 21, 22, 23])) + float(rng.random())
            local = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=hour)
            lines.append(_listen_line(track, local.timestamp() + float(rng.random()), rng))
    lines.sort(key=lambda line: line["listened_at"])
    return lines


def _zip_write(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def write_export(tracks: list[dict], out_dir: Path, seed: int = 11) -> DemoHistory:
    """Write `listenbrainz_demo_<time>.zip` in ListenBrainz's export layout; return what it holds."""
    lines = generate_history(tracks, seed)
    by_month: dict[tuple[int, int], list[str]] = {}
    for line in lines:
        when = datetime.fromtimestamp(line["listened_at"], tz=timezone.utc)
        by_month.setdefault((when.year, when.month), []).append(json.dumps(line, sort_keys=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "listenbrainz_demo_1769428800.zip"
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        _zip_write(archive, "user.json", json.dumps({"user_id": 1, "username": DEMO_USER}))
        for (year, month), month_lines in sorted(by_month.items()):
            _zip_write(archive, f"listens/{year}/{month}.jsonl", "\n".join(month_lines) + "\n")
        _zip_write(archive, "feedback.jsonl", "")
        _zip_write(archive, "pinned_recording.jsonl", "")
    tmp.replace(path)
    return DemoHistory(
        path=path, user=DEMO_USER, timezone=DEMO_TIMEZONE, listens=len(lines),
        first_week=START_WEEK, last_week=START_WEEK + timedelta(weeks=N_WEEKS - 1),
        shift_week=START_WEEK + timedelta(weeks=SHIFT_WEEK_INDEX),
    )
