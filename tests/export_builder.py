"""Build ListenBrainz export zips/folders for tests, in the real export layout."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

MSID = "03dcc65c-0e01-4f25-aa1f-0f469d10e2ad"


def listen_line(ts, artist="Boards of Canada", title="Roygbiv", release="Music Has the Right to Children",
                recording_mbid="", mapping=None, msid=MSID, **extra) -> str:
    obj = {
        "listened_at": ts, "inserted_at": (ts + 5) if isinstance(ts, (int, float)) else 0,
        "track_metadata": {
            "artist_name": artist, "track_name": title, "release_name": release,
            "recording_msid": msid,
            "additional_info": {"recording_mbid": recording_mbid, "artist_mbids": [], "release_mbid": "",
                                "submission_client": "test", "some_unknown_key": {"x": 1}},
            "mbid_mapping": mapping,
        },
        **extra,
    }
    return json.dumps(obj)


def feedback_line(score, recording_msid=None, recording_mbid=None, created=1700000000, **extra) -> str:
    """One feedback.jsonl line as the export writes it (user_id and track_metadata included)."""
    return json.dumps({"created": created, "recording_mbid": recording_mbid, "recording_msid": recording_msid,
                       "score": score, "track_metadata": None, "user_id": "alice", **extra})


def write_export_zip(path: Path, months: dict[tuple[int, int], list[str]], user: str = "alice",
                     feedback: list[str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"user_id": 7, "username": user}))
        for (year, month), lines in months.items():
            archive.writestr(f"listens/{year}/{month}.jsonl", "\n".join(lines) + "\n")
        archive.writestr("feedback.jsonl", "".join(line + "\n" for line in feedback or []))
    return path


def write_export_dir(root: Path, months: dict[tuple[int, int], list[str]],
                     feedback: list[str] | None = None) -> Path:
    for (year, month), lines in months.items():
        target = root / "listens" / str(year) / f"{month}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
    if feedback is not None:
        (root / "feedback.jsonl").write_text("".join(line + "\n" for line in feedback))
    return root
