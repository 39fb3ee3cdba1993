"""Export lines → COPY rows for `listen_batch`, fast, with `parse_listen` as the single authority.

The reference parser (`listenbrainz_export.parse_line` / `parse_listen`) builds a `Listen` per
line: too slow for millions of lines. Here each line is decoded with orjson, the few fields
that decide its track are pulled out raw, and that raw tuple is looked up in a cache of
variant ids. Only a cache miss, or any line the fast path is not sure about (odd types, bad
JSON, NUL characters, …), goes through the reference parser, so both always agree: the same
listens, the same rejects with the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from sidetrack_pipeline.ingest.copy_rows import NULL, copy_field
from sidetrack_pipeline.ingest.listen_writer import epoch_second
from sidetrack_pipeline.ingest.track_variants import TrackVariants
from sidetrack_pipeline.sources.listen import Listen
from sidetrack_pipeline.sources.listenbrainz_export import (
    _MAX_TS, _MIN_TS, Rejected, parse_line, parse_listen, rejected_line)

_EMPTY: dict = {}
_RAW_CACHE_LIMIT = 1 << 20   # distinct raw spellings kept; the cache restarts beyond that


@dataclass
class ParsedBlock:
    rows: list[str] = field(default_factory=list)   # COPY lines (vid, ts, msid, seq)
    read: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class ExportLineParser:
    def __init__(self, variants: TrackVariants):
        self.variants = variants
        self.seq = 0   # position of the next listen in the whole import
        self.msid_variants: dict[str, int] = {}   # recording_msid → its latest variant (feedback)
        self._cache: dict[tuple, int] = {}

    def parse(self, file: str, first_line_no: int, lines: list[bytes], out: ParsedBlock) -> None:
        """Append the rows and rejects of `lines` (numbered from `first_line_no`) to `out`."""
        # The hot loop of an import: locals only, no helper calls on the common path.
        loads, cache, rows, variants = orjson.loads, self._cache, out.rows, self.variants
        msid_variants = self.msid_variants
        seq, read, empty = self.seq, 0, _EMPTY
        for offset, line in enumerate(lines):
            try:
                obj = loads(line)
                ts = obj["listened_at"]
                kind = type(ts)
                if (kind is not int and kind is not float) or not _MIN_TS <= ts < _MAX_TS:
                    raise LookupError
                meta = obj["track_metadata"]
                get = meta.get   # AttributeError when track_metadata is not an object
                info = get("additional_info")
                if type(info) is not dict:
                    info = empty
                mapping = get("mbid_mapping")
                if type(mapping) is not dict:
                    mapping = empty
                duration_ms, duration = info.get("duration_ms"), info.get("duration")
                if duration_ms is True or duration_ms is False or duration is True or duration is False:
                    raise LookupError   # True == 1 as a cache key, but not to parse_listen
                m_artists, i_artists = mapping.get("artist_mbids"), info.get("artist_mbids")
                if type(m_artists) is list:
                    m_artists = m_artists[0] if m_artists else None
                if type(i_artists) is list:
                    i_artists = i_artists[0] if i_artists else None
                key = (get("artist_name"), get("track_name"), get("release_name"),
                       mapping.get("recording_mbid"), info.get("recording_mbid"), m_artists, i_artists,
                       mapping.get("release_mbid"), info.get("release_mbid"), duration_ms, duration,
                       info.get("isrc"))
                vid = cache.get(key)   # TypeError for an unhashable (odd) value
                msid = get("recording_msid")
                if type(msid) is not str or not (msid := msid.strip()):
                    msid = obj.get("recording_msid")
                    if type(msid) is not str or not (msid := msid.strip()):
                        msid = NULL
                # COPY needs tabs, newlines and backslashes escaped; NUL cannot be stored: the
                # reference parser deals with such rare values.
                if not msid.isprintable() or ("\\" in msid and msid is not NULL):
                    raise LookupError
                if vid is None:
                    vid = variants.id_for(parse_listen(obj), seq)
                    if len(cache) >= _RAW_CACHE_LIMIT:
                        cache.clear()
                    cache[key] = vid
            except (orjson.JSONDecodeError, LookupError, TypeError, ValueError, AttributeError):
                self.seq, out.read = seq, out.read + read
                read = 0
                self._slow(file, first_line_no + offset, line, out)
                seq = self.seq
                continue
            read += 1
            if msid is not NULL:
                msid_variants[msid] = vid
            rows.append(f"{vid}\t{int(ts)}\t{msid}\t{seq}\n")
            seq += 1
        self.seq, out.read = seq, out.read + read

    def _slow(self, file: str, line_no: int, line: bytes, out: ParsedBlock) -> None:
        """The reference parser's verdict on one line."""
        parsed = parse_line(line)
        if parsed is None:
            return   # blank line
        out.read += 1
        if not isinstance(parsed, Listen):
            out.rejected.append(rejected_line(file, line_no, line, parsed))
            return
        vid = self.variants.id_for(parsed, self.seq)
        if parsed.recording_msid:
            self.msid_variants[parsed.recording_msid] = vid
        out.rows.append(f"{vid}\t{epoch_second(parsed)}\t{copy_field(parsed.recording_msid)}\t{self.seq}\n")
        self.seq += 1
