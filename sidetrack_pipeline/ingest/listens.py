"""Import a ListenBrainz export: every valid line once, every bad line reported, all or nothing.

The whole import is one transaction, so a crash or a kill leaves the database as it was; the
unique key on (user, track, played_at) makes a re-import insert nothing new, and the same export
file (by content) keeps one `listen_import` row however often it is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from psycopg2.extras import execute_values

from sidetrack_pipeline.ingest.catalog import ensure_user
from sidetrack_pipeline.ingest.listen_writer import write_listens
from sidetrack_pipeline.sources.listenbrainz_export import ParsedLine, Rejected, export_fingerprint, read_export


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

    def summary(self) -> str:
        return (f"{self.path}: read {self.read} lines, inserted {self.inserted} listens, "
                f"skipped {self.duplicates} duplicates, rejected {len(self.rejected)} lines")


def import_listenbrainz_export(conn, user_name: str, path: Path, timezone: str | None = None,
                               source: str = "listenbrainz") -> ImportReport:
    """Import one export for `user_name` inside the caller's transaction (`conn` is psycopg2)."""
    report = ImportReport(user=user_name, path=str(path))
    parsed: list[ParsedLine] = []
    for item in read_export(Path(path)):
        report.read += 1
        if isinstance(item, Rejected):
            report.rejected.append(item)
        else:
            parsed.append(item)

    with conn.cursor() as cur:
        user_id = ensure_user(cur, user_name, timezone)
        cur.execute(
            """insert into listen_import (user_id, source, content_hash, path) values (%s, %s, %s, %s)
               on conflict (user_id, source, content_hash)
               do update set path = excluded.path, imported_at = now()
               returning import_id""",
            (user_id, source, export_fingerprint(Path(path)), str(path)))
        report.import_id = cur.fetchone()[0]
        cur.execute("delete from listen_reject where import_id = %s", (report.import_id,))
        written = write_listens(cur, user_id, [p.listen for p in parsed], source, report.import_id)
        report.inserted, report.duplicates, report.merged = (
            written.inserted, written.duplicates, written.merged)
        execute_values(
            cur,
            "insert into listen_reject (import_id, file, line_no, reason, raw) values %s",
            [(report.import_id, r.file, r.line_no, r.reason, r.raw) for r in report.rejected])
        cur.execute(
            """update listen_import set lines_read = %s, inserted = %s, duplicates = %s, merged = %s,
                                     rejected = %s
               where import_id = %s""",
            (report.read, report.inserted, report.duplicates, report.merged, len(report.rejected),
             report.import_id))
    return report
