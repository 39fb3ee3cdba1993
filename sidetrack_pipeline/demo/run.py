"""`sidetrack demo`: build the demo library and history, import it, run every asset, summarise."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sidetrack_pipeline.db import connect, database_url, upgrade
from sidetrack_pipeline.demo import history
from sidetrack_pipeline.demo.library import build_demo_library, load_ground_truth
from sidetrack_pipeline.ingest.listens import ImportReport, import_listenbrainz_export
from sidetrack_pipeline.settings import get_settings

SUMMARY_TABLES = ("users", "artist", "release", "track", "listen", "audio_file", "features",
                  "analysis_error", "embeddings", "mood_scores", "track_projection",
                  "taste_trajectory_week", "marts.mart_mood_week", "marts.mart_change_points")


@dataclass
class DemoSummary:
    library_dir: Path
    export_path: Path
    import_report: ImportReport
    shift_week: date
    row_counts: dict[str, int] = field(default_factory=dict)
    weeks: int = 0
    first_week: date | None = None
    last_week: date | None = None
    change_points: list[tuple[str, date, str, float, str]] = field(default_factory=list)  # axis, week, direction, magnitude, method
    seconds: float = 0.0

    @property
    def planted_shift_found(self) -> bool:
        return any(abs((week - self.shift_week).days) <= 14 for _, week, *_ in self.change_points)


def _history_tracks(library_dir: Path) -> list[dict]:
    """Ground truth entries in the shape demo.history expects."""
    out = []
    for entry in load_ground_truth(library_dir):
        mbids = entry.get("mbids") or {}
        out.append({
            "artist": entry["artist"], "title": entry["title"], "release": entry["release"],
            "recording_mbid": entry.get("recording_mbid") or mbids.get("recording"),
            "artist_mbid": entry.get("artist_mbid") or mbids.get("artist"),
            "release_mbid": entry.get("release_mbid") or mbids.get("release"),
            "tempo_bpm": entry["tempo_bpm"], "mode": entry["mode"], "brightness": entry["brightness"],
            "density": entry["density"], "duration_s": entry["duration_s"],
            "tracknumber": entry.get("track_number", 1),
        })
    return out


def run_demo(echo=print) -> DemoSummary:
    started = time.perf_counter()
    settings = get_settings()
    url = database_url(settings)
    upgrade(url)
    echo(f"database: {url}")

    library_dir = settings.demo_dir / "library"
    echo(f"building the demo audio library in {library_dir} …")
    build_demo_library(library_dir)
    export = history.write_export(_history_tracks(library_dir), settings.demo_dir)
    echo(f"wrote a ListenBrainz export of {export.listens} listens: {export.path}")

    with connect(url) as conn:
        report = import_listenbrainz_export(conn, export.user, export.path, timezone=export.timezone)
    echo("import: " + report.summary())

    os.environ["AUDIO_ROOT"] = str(library_dir)
    os.environ.pop("LISTENS_EXPORTS", None)   # already imported above, through the CLI's path
    # The demo's artists and MBIDs are invented: never send them to MusicBrainz or Last.fm.
    for variable in ("MUSICBRAINZ_CONTACT", "LASTFM_API_KEY", "BEETS_LIBRARY"):
        os.environ.pop(variable, None)
    echo("materialising every asset through Dagster …")
    from sidetrack_pipeline.pipeline import materialize_all

    materialize_all()

    summary = DemoSummary(library_dir, export.path, report, export.shift_week)
    with connect(url) as conn, conn.cursor() as cur:
        for table in SUMMARY_TABLES:
            cur.execute(f"select count(*) from {table}")
            summary.row_counts[table] = cur.fetchone()[0]
        cur.execute("select count(distinct week), min(week), max(week) from marts.mart_mood_week")
        summary.weeks, summary.first_week, summary.last_week = cur.fetchone()
        cur.execute("select axis, week, direction, magnitude, method from marts.mart_change_points "
                    "order by week, axis, method")
        summary.change_points = [(a, w, d, float(m or 0), method) for a, w, d, m, method in cur.fetchall()]
    summary.seconds = time.perf_counter() - started
    return summary


def format_summary(s: DemoSummary) -> str:
    lines = ["", "SideTrack demo — summary", "=" * 24]
    lines += [f"  {table:<28}{count:>8}" for table, count in s.row_counts.items()]
    lines.append(f"weeks covered: {s.weeks} ({s.first_week} … {s.last_week})")
    lines.append(f"planted regime shift: week of {s.shift_week}")
    lines.append(f"change-points found: {len(s.change_points)}")
    for axis, week, direction, magnitude, method in s.change_points:
        near = "  ← planted shift" if abs((week - s.shift_week).days) <= 14 else ""
        lines.append(f"  {week}  {axis:<8} {direction:<5} {magnitude:+.3f}  {method:<9}{near}")
    lines.append("planted shift detected: " + ("yes" if s.planted_shift_found else "NO"))
    lines.append(f"took {s.seconds:.0f} s")
    lines += ["", "Next:", "  sidetrack dashboard      # the Streamlit dashboard (http://localhost:8501)",
              "  sidetrack ui             # the Dagster UI with every asset and this run (http://localhost:3000)"]
    return "\n".join(lines)
