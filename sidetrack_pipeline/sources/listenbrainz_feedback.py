"""Read `feedback.jsonl` of a ListenBrainz export: the user's loved (1) and hated (-1) recordings.

A line looks like {"recording_msid": "…", "recording_mbid": "…" or null, "score": 1,
"created": 1650000000, …} (the server also writes `user_id` and sometimes `track_metadata`).
Missing or empty keys are tolerated as long as the line names a recording (by MBID or MSID)
and carries a score of 1, -1 or 0 (0: the feedback was withdrawn). Anything else is a
`Rejected` with its reason, like a bad listens line.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sidetrack_pipeline.sources.listen import clean_mbid
from sidetrack_pipeline.sources.listenbrainz_export import (
    _MAX_TS, ExportError, Rejected, _number, _storable, _text)

FEEDBACK_FILE = "feedback.jsonl"
SCORES = {1: "loved", -1: "hated", 0: "withdrawn"}


@dataclass(frozen=True)
class Feedback:
    file: str
    line_no: int
    score: int                       # 1 loved, -1 hated, 0 withdrawn
    recording_mbid: str | None
    recording_msid: str | None
    created: int | None              # epoch seconds
    raw: str


def parse_feedback(obj: object) -> tuple[int, str | None, str | None, int | None]:
    """One decoded line → (score, recording_mbid, recording_msid, created); ValueError says why not."""
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    if "score" not in obj:
        raise ValueError("missing score")
    score = _number(obj["score"])
    if score not in (1.0, -1.0, 0.0):
        raise ValueError(f"score must be 1, -1 or 0 (got {obj['score']!r})")
    mbid = clean_mbid(obj.get("recording_mbid"))
    msid = _storable("recording_msid", _text(obj.get("recording_msid")))
    if mbid is None and msid is None:
        raise ValueError("names no recording (no recording_mbid or recording_msid)")
    created = _number(obj.get("created"))
    if created is not None and not 0 <= created < _MAX_TS:
        created = None   # an impossible time is as good as none
    return int(score), mbid, msid, int(created) if created is not None else None


def _feedback_bytes(root: Path) -> tuple[str, bytes] | None:
    """(name, content) of the export's feedback file, or None when it has none."""
    if root.is_dir():
        found = sorted(root.rglob(FEEDBACK_FILE), key=lambda p: len(p.parts))
        return (str(found[0].relative_to(root)), found[0].read_bytes()) if found else None
    try:
        with zipfile.ZipFile(root) as archive:
            names = sorted((n for n in archive.namelist() if n.rsplit("/", 1)[-1] == FEEDBACK_FILE),
                           key=lambda n: n.count("/"))
            return (names[0], archive.read(names[0])) if names else None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ExportError(f"{root}: {FEEDBACK_FILE} is damaged ({exc})") from exc


def read_feedback(path: Path) -> Iterator[Feedback | Rejected]:
    """Every non-blank line of the export's feedback file as a Feedback or a Rejected."""
    found = _feedback_bytes(Path(path))
    if found is None:
        return
    name, content = found
    for line_no, raw_bytes in enumerate(content.split(b"\n"), start=1):
        raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\r\n")
        if not raw.strip():
            continue
        try:
            score, mbid, msid, created = parse_feedback(json.loads(raw))
        except json.JSONDecodeError as exc:
            yield Rejected(name, line_no, f"broken JSON: {exc.msg} at column {exc.colno}", raw)
        except ValueError as exc:
            yield Rejected(name, line_no, str(exc), raw)
        else:
            yield Feedback(name, line_no, score, mbid, msid, created, raw)
