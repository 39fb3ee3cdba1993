"""Import a ListenBrainz export: every valid line once, every bad line reported, all or nothing.

The whole import is one transaction, so a crash or a kill leaves the database as it was; the
unique key on (user, track, played_at) makes a re-import insert nothing new, and the same export
file (by content) keeps one `listen_import` row however often it is imported.

The export is streamed: a few MB of lines at a time are parsed (`export_lines`) into COPY rows,
and every `CHUNK_LISTENS` listens go to PostgreSQL (`listen_batch`) on a second thread while
the next ones are parsed, so memory stays flat however large the export is. The content hash
that identifies the export is computed in the same single pass; until it is known the import
row carries a placeholder hash, and at the end it either gets the real one or, when this
export was imported before, hands its rejects (and any new listens) to that earlier row.
Then `feedback.jsonl` (loved/hated recordings) becomes user labels (`feedback_labels`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sidetrack_pipeline.ingest.background_writer import BackgroundWriter
from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.copy_rows import copy_into, copy_line
from sidetrack_pipeline.ingest.export_lines import ExportLineParser, ParsedBlock
from sidetrack_pipeline.ingest.feedback_labels import store_feedback
from sidetrack_pipeline.ingest.listen_batch import ListenBatch
from sidetrack_pipeline.ingest.listen_writer import PARITY_WINDOW_S, WriteReport
from sidetrack_pipeline.ingest.track_variants import TrackVariants
from sidetrack_pipeline.sources.listenbrainz_export import Rejected, listen_files, read_line_blocks
from sidetrack_pipeline.sources.listenbrainz_feedback import Feedback, read_feedback

CHUNK_LISTENS = 50_000


@dataclass
class ImportReport:
    user: str
    path: str
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    merged: int = 0  # plays another source already had (see listen_writer)
    rejected: list[Rejected] = field(default_factory=list)
    import_id: int | None = None
    loved: int = 0  # feedback.jsonl lines that labelled a track loved / hated
    hated: int = 0
    feedback_withdrawn: int = 0  # score 0: the label was removed
    unmatched: int = 0  # feedback for a recording no track or listen is known by

    def summary(self) -> str:
        return (f"{self.path}: read {self.read} lines, inserted {self.inserted} listens, "
                f"skipped {self.duplicates} duplicates, merged {self.merged}, "
                f"rejected {len(self.rejected)} lines; feedback: {self.loved} loved, "
                f"{self.hated} hated, {self.unmatched} unmatched")


@dataclass
class _Chunk:
    variants: str
    listens: str
    count: int
    rejected: list[Rejected]


def _store_rejects(cur, import_id: int, rejected: list[Rejected]) -> None:
    # PostgreSQL text cannot hold NUL; the reason already says what was wrong with the line.
    copy_into(cur, "listen_reject", ("import_id", "file", "line_no", "reason", "raw"),
              "".join(copy_line(import_id, r.file, r.line_no, r.reason, r.raw.replace("\0", "\ufffd"))
                      for r in rejected))


def _open_import(cur, user_id: int, source: str, path: Path) -> int:
    # Two imports for one user wait for each other, so the second finds the first's import row.
    cur.execute("select pg_advisory_xact_lock(hashtext('sidetrack.listen_import'), %s)", (user_id,))
    cur.execute("""insert into listen_import (user_id, source, content_hash, path)
                   values (%s, %s, %s, %s) returning import_id""",
                (user_id, source, f"pending:{uuid.uuid4()}", str(path)))
    return cur.fetchone()[0]


def _close_import(cur, pending_id: int, user_id: int, source: str, content_hash: str,
                  report: ImportReport) -> int:
    """Give the import row its content hash, or fold it into the row of an earlier import of
    the same export; fill in the counts. Returns the import id that stays."""
    cur.execute("""select import_id from listen_import
                   where user_id = %s and source = %s and content_hash = %s for update""",
                (user_id, source, content_hash))
    row = cur.fetchone()
    import_id = pending_id
    if row is not None:
        import_id = row[0]
        cur.execute("delete from listen_reject where import_id = %s", (import_id,))
        cur.execute("update listen_reject set import_id = %s where import_id = %s", (import_id, pending_id))
        if report.inserted:
            # Listens lost since that import came back (rare; this walks all the user's listens).
            cur.execute("update listen set import_id = %s where user_id = %s and import_id = %s",
                        (import_id, user_id, pending_id))
        cur.execute("delete from listen_import where import_id = %s", (pending_id,))
    cur.execute(
        """update listen_import set content_hash = %s, path = %s, imported_at = now(), lines_read = %s,
                                    inserted = %s, duplicates = %s, merged = %s, rejected = %s
           where import_id = %s""",
        (content_hash, report.path, report.read, report.inserted, report.duplicates, report.merged,
         len(report.rejected), import_id))
    return import_id


def _stream_listens(cur, batch: ListenBatch, parser: ExportLineParser, pending_id: int, path: Path,
                    digest, report: ImportReport, chunk_listens: int) -> WriteReport:
    """Parse the listens files on this thread, write them on another; returns the write counts."""
    variants = parser.variants
    written = WriteReport()

    def write(chunk: _Chunk) -> None:
        batch.catalogue(chunk.variants)
        written.add(batch.insert(chunk.listens, chunk.count))
        _store_rejects(cur, pending_id, chunk.rejected)

    def submit(block: ParsedBlock) -> None:
        report.read += block.read
        report.rejected.extend(block.rejected)
        writer.submit(_Chunk(variants.take_new(), "".join(block.rows), len(block.rows), block.rejected))

    with BackgroundWriter(write) as writer:
        block = ParsedBlock()
        for name, first_line_no, lines in read_line_blocks(path, digest):
            parser.parse(name, first_line_no, lines, block)
            if len(block.rows) >= chunk_listens:
                submit(block)
                block = ParsedBlock()
        submit(block)
    return written


def import_listenbrainz_export(conn, user_name: str, path: Path, timezone: str | None = None,
                               source: str = "listenbrainz",
                               chunk_listens: int = CHUNK_LISTENS) -> ImportReport:
    """Import one export for `user_name` inside the caller's transaction (`conn` is psycopg2)."""
    path = Path(path)
    listen_files(path)   # not an export: say so before touching the database
    report = ImportReport(user=user_name, path=str(path))
    digest = hashlib.sha256()
    with conn.cursor() as cur:
        user_id = ensure_user(cur, user_name, timezone)
        pending_id = _open_import(cur, user_id, source, path)
        batch = ListenBatch(cur, user_id, source, pending_id, PARITY_WINDOW_S)
        parser = ExportLineParser(TrackVariants())
        written = _stream_listens(cur, batch, parser, pending_id, path, digest, report, chunk_listens)
        report.inserted, report.duplicates, report.merged = (
            written.inserted, written.duplicates, written.merged)

        items = list(read_feedback(path))
        bad = [item for item in items if isinstance(item, Rejected)]
        good = [item for item in items if isinstance(item, Feedback)]
        msids = {f.recording_msid: parser.msid_variants[f.recording_msid] for f in good
                 if f.recording_msid in parser.msid_variants}
        feedback = store_feedback(cur, user_id, good, batch.tracks_of(msids))
        report.loved, report.hated = feedback.loved, feedback.hated
        report.feedback_withdrawn, report.unmatched = feedback.withdrawn, feedback.unmatched
        feedback_rejects = sorted(bad + feedback.unmatched_lines, key=lambda r: r.line_no)
        _store_rejects(cur, pending_id, feedback_rejects)
        report.rejected.extend(feedback_rejects)

        report.import_id = _close_import(cur, pending_id, user_id, source, digest.hexdigest(), report)
    return report
