"""Read a ListenBrainz user export (the zip, or its unpacked folder) into `Listen`s.

Layout: `listens/{YYYY}/{M}.jsonl` (month not zero-padded), one listen per line with
`listened_at` (may carry a fraction), `inserted_at` and `track_metadata` (with `recording_msid`
inside; `mbid_mapping` is null when unmapped; MBIDs may be empty strings; unknown keys abound).
Every line is either a `Listen` or a `Rejected` with its file, line number and reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from sidetrack_pipeline.sources.isrc import clean_isrc
from sidetrack_pipeline.sources.listen import Listen, clean_mbid

_LISTEN_FILE = re.compile(r"(?:^|/)listens/(\d{4})/(\d{1,2})\.jsonl$")
# Epoch seconds a real listen can have: ListenBrainz rejects listens before 2002.
_MIN_TS, _MAX_TS = 1_000_000_000, 4_102_444_800


@dataclass(frozen=True)
class Rejected:
    file: str
    line_no: int
    reason: str
    raw: str


@dataclass(frozen=True)
class ParsedLine:
    file: str
    line_no: int
    listen: Listen


class ExportError(ValueError):
    """The export as a whole is unusable (not a zip/folder, no listens files)."""


def listen_files(root: Path) -> list[tuple[str, Callable]]:
    """(name, opener) for each listens file, in chronological order."""
    root = Path(root)
    if root.is_dir():
        names = [str(p.relative_to(root)) for p in root.rglob("*.jsonl")]
        opener = lambda name: (root / name).open("rb")  # noqa: E731
    elif zipfile.is_zipfile(root):
        try:
            archive = zipfile.ZipFile(root)
        except zipfile.BadZipFile as exc:
            raise ExportError(f"{root} is a damaged zip ({exc})") from exc
        names = archive.namelist()
        opener = archive.open
    else:
        raise ExportError(f"{root} is neither a ListenBrainz export zip nor its unpacked folder")
    dated = []
    for name in names:
        match = _LISTEN_FILE.search(name.replace("\\", "/"))
        if match:
            dated.append(((int(match[1]), int(match[2])), name))
    if not dated:
        raise ExportError(f"{root} holds no listens/YYYY/M.jsonl files")
    return [(name, opener) for _, name in sorted(dated)]


def read_line_blocks(path: Path, digest=None,
                     block_size: int = 1 << 22) -> Iterator[tuple[str, int, list[bytes]]]:
    """(file, number of its first line, lines) for every listens file, a few MB at a time.

    Lines are split at b"\n" (the newline itself dropped), numbered from 1 per file, exactly
    as iterating over the file would. A given `digest` (hashlib) is fed what
    `export_fingerprint` feeds it, so one pass both reads and fingerprints the export.
    """
    for name, opener in listen_files(Path(path)):
        if digest is not None:
            digest.update(name.replace("\\", "/").encode() + b"\0")
        try:
            with opener(name) as handle:
                line_no, rest = 1, b""
                for block in iter(lambda: handle.read(block_size), b""):
                    if digest is not None:
                        digest.update(block)
                    lines = (rest + block).split(b"\n")
                    rest = lines.pop()
                    if lines:
                        yield name, line_no, lines
                        line_no += len(lines)
                if rest:
                    yield name, line_no, [rest]
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ExportError(f"{path}: {name} is damaged ({exc})") from exc


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _storable(field: str, text: str | None) -> str | None:
    """`text`, unless PostgreSQL could not store it (a NUL character, a lone surrogate)."""
    if text is not None:
        if "\0" in text:
            raise ValueError(f"{field} contains a NUL character")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{field} is not valid Unicode") from None
    return text


def parse_listen(obj: object) -> Listen:
    """One export line (already JSON-decoded) → Listen; ValueError says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    if "listened_at" not in obj:
        raise ValueError("missing listened_at")
    ts = _number(obj["listened_at"])
    if ts is None:
        raise ValueError(f"listened_at is not a number ({obj['listened_at']!r})")
    if not _MIN_TS <= ts < _MAX_TS:
        raise ValueError(f"listened_at {ts!r} is outside the plausible range")
    meta = obj.get("track_metadata")
    if not isinstance(meta, dict):
        raise ValueError("missing track_metadata")
    artist, track = _text(meta.get("artist_name")), _text(meta.get("track_name"))
    if artist is None:
        raise ValueError("missing artist_name")
    if track is None:
        raise ValueError("missing track_name")
    info = meta.get("additional_info") if isinstance(meta.get("additional_info"), dict) else {}
    mapping = meta.get("mbid_mapping") if isinstance(meta.get("mbid_mapping"), dict) else {}

    def first(*values: object) -> str | None:
        for value in values:
            if isinstance(value, list):
                value = value[0] if value else None
            mbid = clean_mbid(value)
            if mbid:
                return mbid
        return None

    duration = _number(info.get("duration_ms"))
    if duration is None and _number(info.get("duration")) is not None:
        duration = _number(info.get("duration")) * 1000
    return Listen(
        played_at=datetime.fromtimestamp(math.floor(ts), tz=timezone.utc),
        artist_name=_storable("artist_name", artist),
        track_name=_storable("track_name", track),
        release_name=_storable("release_name", _text(meta.get("release_name"))),
        recording_mbid=first(mapping.get("recording_mbid"), info.get("recording_mbid")),
        artist_mbid=first(mapping.get("artist_mbids"), info.get("artist_mbids")),
        release_mbid=first(mapping.get("release_mbid"), info.get("release_mbid")),
        recording_msid=_storable("recording_msid",
                                 _text(meta.get("recording_msid")) or _text(obj.get("recording_msid"))),
        duration_ms=int(duration) if duration and duration > 0 else None,
        isrc=clean_isrc(info.get("isrc")),
    )


def parse_line(raw_bytes: bytes) -> Listen | str | None:
    """One raw line → its Listen, or the reason it is rejected (str), or None for a blank line."""
    raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\r\n")
    if not raw.strip():
        return None
    try:
        return parse_listen(json.loads(raw))
    except json.JSONDecodeError as exc:
        return f"broken JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:
        return str(exc)


def rejected_line(file: str, line_no: int, raw_bytes: bytes, reason: str) -> Rejected:
    return Rejected(file, line_no, reason, raw_bytes.decode("utf-8", errors="replace").rstrip("\r\n"))


def read_export(path: Path) -> Iterator[ParsedLine | Rejected]:
    """Yield every line of every listens file as a ParsedLine or a Rejected."""
    for name, first_line_no, lines in read_line_blocks(Path(path)):
        for line_no, raw_bytes in enumerate(lines, start=first_line_no):
            parsed = parse_line(raw_bytes)
            if isinstance(parsed, Listen):
                yield ParsedLine(name, line_no, parsed)
            elif parsed is not None:
                yield rejected_line(name, line_no, raw_bytes, parsed)


def export_fingerprint(path: Path) -> str:
    """sha256 of the export's listens files (names and bytes), the same for a zip and its folder."""
    digest = hashlib.sha256()
    for name, opener in listen_files(Path(path)):
        digest.update(name.replace("\\", "/").encode() + b"\0")
        with opener(name) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def export_username(path: Path) -> str | None:
    """The `username` from the export's user.json, when present."""
    path = Path(path)
    try:
        if path.is_dir():
            candidates = list(path.rglob("user.json"))
            data = candidates[0].read_bytes() if candidates else None
        else:
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("user.json")]
                data = archive.read(names[0]) if names else None
        return _text(json.loads(data).get("username")) if data else None
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
