"""Identifiers from a beets library: its SQLite database, read directly (beets is not needed).

beets keeps one row per file in `items`: `path` (bytes; since beets 2.x, files inside its music
directory are stored relative to it), `mb_trackid` (the recording MBID), `mb_artistid`,
`mb_albumid`, `isrc`, `artist`, `title`, `album`, `length`, with '' for unknown values.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from psycopg2.extras import execute_values

from sidetrack_pipeline.sources.isrc import clean_isrc
from sidetrack_pipeline.sources.listen import clean_mbid

log = logging.getLogger(__name__)

# audio_file column -> beets items column
FIELDS = {"recording_mbid": "mb_trackid", "artist_mbid": "mb_artistid", "release_mbid": "mb_albumid",
          "isrc": "isrc", "artist": "artist", "title": "title", "album": "album"}
REQUIRED_COLUMNS = {"path", "mb_trackid", "artist", "title"}


@dataclass
class BeetsImportReport:
    items: int = 0            # rows in beets' items table
    imported: int = 0         # scanned files that take at least one field from beets
    nothing_to_add: int = 0   # scanned files whose own tags already say all beets knows
    missing_on_disk: int = 0  # items whose file no longer exists
    not_scanned: int = 0      # items whose file exists but is not in the library scan (outside AUDIO_ROOT?)
    without_mbid: int = 0     # items without a recording MBID
    changed: int = 0          # audio_file rows this run updated


def _read_items(db_path: Path) -> list[tuple]:
    if not db_path.is_file():
        raise FileNotFoundError(f"beets library {db_path} not found")
    try:
        con = sqlite3.connect(f"file:{quote(str(db_path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open beets library {db_path}: {exc}") from exc
    try:
        columns = {row[1] for row in con.execute("pragma table_info(items)")}
        if not columns:
            raise ValueError(f"{db_path} is not a beets library: it has no items table")
        if missing := REQUIRED_COLUMNS - columns:
            raise ValueError(f"{db_path} is not a beets library: items lacks {', '.join(sorted(missing))}")
        wanted = ["path", *FIELDS.values()]
        return con.execute(f"select {', '.join(c if c in columns else 'null' for c in wanted)} "
                           "from items order by rowid").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{db_path} is not a beets library: {exc}") from exc
    finally:
        con.close()


def _clean(field: str, value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if field.endswith("_mbid"):   # beets joins several ids with ';' in some versions
        return next((m for m in map(clean_mbid, re.split(r"[;/]", value)) if m), None)
    if field == "isrc":
        return next((i for i in map(clean_isrc, re.split(r"[;,/]", value)) if i), None)
    return value.strip()


def _absolute_path(raw, music_dir: Path | None) -> Path | None:
    """The item's path on this machine; None for a relative path without `music_dir`."""
    text = os.fsdecode(bytes(raw)) if isinstance(raw, (bytes, memoryview)) else str(raw or "")
    if os.path.isabs(text):
        return Path(text)
    return Path(music_dir, *text.split("/")) if music_dir is not None else None


def import_beets(conn, db_path: Path, music_dir: Path | None = None) -> BeetsImportReport:
    """Fill the identity fields (recording, artist and release MBIDs, ISRC, artist, title, album)
    of scanned library files that their own tags lack, from the beets database at `db_path`.

    Never overwrites the file's own tags: a field beets supplies counts only where the tags say
    nothing, and such fields are listed in `audio_file.beets_fields` (`tag_source` = 'beets').
    A re-import refreshes them from beets (files beets no longer lists keep what it said before);
    a re-scan keeps them while the file's tags still lack them.
    Only files that exist and were scanned (`scan_library`) are touched; the rest is counted.
    `music_dir` is beets' `directory` setting, needed when the database stores relative paths
    (beets 2.x). A file that is not a beets database raises ValueError and changes nothing.
    """
    db_path = Path(db_path)
    items = _read_items(db_path)
    report = BeetsImportReport(items=len(items))
    by_path: dict[str, dict[str, str | None]] = {}
    for raw_path, *values in items:
        fields = {name: _clean(name, v) for name, v in zip(FIELDS, values)}
        report.without_mbid += fields["recording_mbid"] is None
        if not raw_path:   # an item without a path has no file
            report.missing_on_disk += 1
            continue
        path = _absolute_path(raw_path, music_dir)
        if path is None:
            raise ValueError(f"{db_path} stores paths relative to beets' music directory; pass music_dir "
                             "(the `directory` setting of beets' config.yaml). Nothing was imported.")
        if not path.is_file():
            report.missing_on_disk += 1
            continue
        by_path.setdefault(str(path.resolve()), fields)

    names = list(FIELDS)
    with conn.cursor() as cur:
        cur.execute(f"select path, beets_fields, {', '.join(f'{n}::text' for n in names)} "
                    "from audio_file where path = any(%s)", (list(by_path),))
        rows = {path: (beets_fields, dict(zip(names, values))) for path, beets_fields, *values in cur.fetchall()}
        updates = []
        for path, from_beets_db in by_path.items():
            if path not in rows:
                report.not_scanned += 1
                continue
            beets_fields, current = rows[path]
            own = {n: None if n in beets_fields else current[n] for n in names}
            merged = {n: own[n] if own[n] is not None else from_beets_db[n] for n in names}
            supplied = [n for n in names if own[n] is None and from_beets_db[n] is not None]
            report.imported += bool(supplied)
            report.nothing_to_add += not supplied
            if merged != current or supplied != list(beets_fields):
                updates.append((path, *(merged[n] for n in names), supplied))
        execute_values(cur, f"""
            update audio_file a set {', '.join(f'{n} = v.{n}' for n in names)}, beets_fields = v.beets_fields
            from (values %s) as v(path, {', '.join(names)}, beets_fields) where a.path = v.path""",
                       updates, template="(%s, %s::uuid, %s::uuid, %s::uuid, %s, %s, %s, %s, %s::text[])")
        report.changed = len(updates)
    log.info("beets %s: %d items, %d files take identifiers from it, %d missing on disk, %d not scanned, "
             "%d without a recording MBID", db_path, report.items, report.imported, report.missing_on_disk,
             report.not_scanned, report.without_mbid)
    return report
