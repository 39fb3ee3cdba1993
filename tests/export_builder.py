"""Build ListenBrainz export zips/folders for tests, in the real export layout."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


def listen_line(ts, artist="Boards of Canada", title="Roygbiv", release="Music Has the Right to Children",
                recording_mbid="", mapping=None, **extra) -> str:
    obj = {
        "listened_at": ts, "inserted_at": (ts + 5) if isinstance(ts, (int, float)) else 0,
        "track_metadata": {
            "artist_name": artist, "track_name": title, "release_name": release,
            "recording_msid": "03dcc65c-0e01-4f25-aa1f-0f469d10e2ad",
            "additional_info": {"recording_mbid": recording_mbid, "artist_mbids": [], "release_mbid": "",
                                "submission_client": "test", "some_unknown_key": {"x": 1}},
            "mbid_mapping": mapping,
        },
        **extra,
    }
    return json.dumps(obj)


def write_export_zip(path: Path, months: dict[tuple[int, int], list[str]], user: str = "alice") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("user.json", json.dumps({"user_id": 7, "username": user}))
        for (year, month), lines in months.items():
            archive.writestr(f"listens/{year}/{month}.jsonl", "\n".join(lines) + "\n")
        archive.writestr("feedback.jsonl", "")
    return path


def write_export_dir(root: Path, months: dict[tuple[int, int], list[str]]) -> Path:
    for (year, month), lines in months.items():
        target = root / "listens" / str(year) / f"{month}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
    return root
