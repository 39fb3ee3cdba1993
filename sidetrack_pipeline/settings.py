"""Runtime settings, read from the environment so every process agrees.

A few analysis switches can also be set from the dashboard's Settings page (local mode): they are
kept in $SIDETRACK_HOME/preferences.json (PREFERENCE_KEYS below), which every process reads the
same way. An environment variable always wins over the file; the file over the default.

SIDETRACK_HOME          where SideTrack keeps its state (embedded database, demo library, caches).
                        Default: /var/lib/sidetrack when running as root (so the embedded
                        PostgreSQL, which runs as its own `pgserver` user, never has to open up a
                        home directory), otherwise $XDG_DATA_HOME/sidetrack (~/.local/share/sidetrack).
SIDETRACK_DATABASE_URL  an external PostgreSQL (with pgvector) to use instead of the embedded one.
AUDIO_ROOT              the folder of the user's own audio files (default: the demo library).
BEETS_LIBRARY           a beets library database (library.db) whose MusicBrainz IDs/ISRCs fill in
                        what the files' own tags lack; BEETS_MUSIC_DIR: its `directory` setting
                        (needed when beets stores relative paths).
LISTENS_EXPORTS         ListenBrainz exports the `listens` asset imports, `user=path` separated by `;`.
TORCH_DEVICE            auto | cuda | cpu.
EMBEDDING_MODEL         learned embedding models to run, comma-separated (default
                        msd-musicnn,mtt-musicnn; `none` turns them off). See `sidetrack models list`.
SIDETRACK_MODELS_DIR    where converted model weights live (default $SIDETRACK_HOME/models).
USE_DEMUCS              true: measure pumpiness on Demucs drum/bass stems too (needs
                        SIDETRACK_DEMUCS_CHECKPOINT); default false (band-pass proxy only).
EXCERPT_SECONDS         analyse a centred excerpt of this length instead of the full track (0 = full).
ANALYSIS_WORKERS        process-pool size for audio analysis (default: number of cores).
MAX_ANALYSIS_SECONDS    longest stretch of one file that is decoded (centred window; default 1200).
INGEST_LISTENS_INTERVAL_MINUTES  how often Dagster syncs every user's ListenBrainz/Last.fm listens
                        (default 60; a divisor of 60 or whole hours dividing a day).
LASTFM_SYNC_INTERVAL_MINUTES     how often Last.fm tags are refreshed (default 1440).
AGGREGATE_WEEKS_START   the first weekly partition of the aggregates and weekly analytics, a date
                        (YYYY-MM-DD; a day that is not a Monday means the Monday of its week).
                        Default 2005-01-03: Last.fm scrobbles go back to 2005 or so.
AGGREGATE_WEEKS_INTERVAL_MINUTES how often the `aggregate_weeks_schedule` refreshes the current and
                        the previous week's partitions, then the full-history marts (default 60;
                        a divisor of 60 or whole hours dividing a day).
ANALYSIS_TIMEOUT_SECONDS  per-file wall-clock limit (default 300); ANALYSIS_MEMORY_MB: per-worker
                        address-space limit (default 4096). Both read by audio/guard.py; 0 = off.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# The switches the dashboard may set for the whole instance (audio analysis is shared by all users).
PREFERENCE_KEYS = ("TORCH_DEVICE", "USE_DEMUCS", "EXCERPT_SECONDS", "LEXICON_EXTRA_WORDS")
PREFERENCES_FILE = "preferences.json"


# Both musicnn vocabularies: MSD's tags are mostly genres, MTT's describe sound (loud, soft, fast,
# slow, beat, ambient ...); the zero-shot lexicon needs both (docs/validation.md).
DEFAULT_EMBEDDING_MODELS = "msd-musicnn,mtt-musicnn"
DEFAULT_AGGREGATE_WEEKS_START = dt.date(2005, 1, 3)  # a Monday


def default_home() -> Path:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/sidetrack")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "sidetrack"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None
    audio_root: Path
    listens_exports: tuple[tuple[str, Path], ...]
    torch_device: str
    embedding_models: tuple[str, ...]
    use_demucs: bool
    excerpt_seconds: float
    analysis_workers: int
    beets_library: Path | None = None
    beets_music_dir: Path | None = None
    ingest_listens_interval_minutes: int = 60
    lastfm_sync_interval_minutes: int = 1440
    aggregate_weeks_start: dt.date = DEFAULT_AGGREGATE_WEEKS_START
    aggregate_weeks_interval_minutes: int = 60
    audio_scan_interval_seconds: int = 300     # how often audio_root_sensor looks at AUDIO_ROOT
    audio_settle_seconds: int = 60             # a file must be this old to be analysed (copying)
    api_retry_attempts: int = 3                # Dagster step retries of the web-API assets
    api_retry_delay_seconds: float = 30.0      # first retry's delay; doubles each time, ± jitter

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"


def _parse_exports(raw: str) -> tuple[tuple[str, Path], ...]:
    exports = []
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        user, sep, path = item.partition("=")
        if not sep or not user.strip() or not path.strip():
            raise ValueError(f"LISTENS_EXPORTS entry {item!r} is not of the form user=path")
        exports.append((user.strip(), Path(path.strip()).expanduser()))
    return tuple(exports)


def _parse_models(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    return () if names in ((), ("none",)) else names


def _parse_week_start(raw: str) -> dt.date:
    """AGGREGATE_WEEKS_START: an ISO date, moved back to the Monday of its week."""
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"AGGREGATE_WEEKS_START must be a date like 2005-01-03, not {raw!r}") from None
    return day - dt.timedelta(days=day.weekday())


def home_dir() -> Path:
    return Path(os.environ.get("SIDETRACK_HOME") or default_home()).expanduser().resolve()


def read_preferences(home: Path | None = None) -> dict[str, str]:
    """The dashboard-set switches ({} without a file). A file that cannot be read is reported in
    the log and ignored: the defaults apply, nothing else breaks."""
    path = (home or home_dir()) / PREFERENCES_FILE
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return {k: str(v) for k, v in values.items() if k in PREFERENCE_KEYS} if isinstance(values, dict) else {}


def write_preferences(values: Mapping[str, str], home: Path | None = None) -> Path:
    """Merge `values` (PREFERENCE_KEYS only) into the preferences file, atomically."""
    unknown = set(values) - set(PREFERENCE_KEYS)
    if unknown:
        raise ValueError(f"not a preference: {', '.join(sorted(unknown))}")
    home = home or home_dir()
    home.mkdir(parents=True, exist_ok=True)
    path = home / PREFERENCES_FILE
    merged = {**read_preferences(home), **{k: str(v) for k, v in values.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def effective_env(home: Path | None = None) -> dict[str, str]:
    """os.environ over the preferences file: what the settings are read from."""
    return {**read_preferences(home), **os.environ}


def get_settings() -> Settings:
    home = home_dir()
    env = effective_env(home)
    device = env.get("TORCH_DEVICE", "auto").strip().lower() or "auto"
    if device not in {"auto", "cuda", "cpu"}:
        raise ValueError(f"TORCH_DEVICE must be auto, cuda or cpu, not {device!r}")
    return Settings(
        home=home,
        database_url=env.get("SIDETRACK_DATABASE_URL") or None,
        audio_root=Path(env.get("AUDIO_ROOT") or home / "demo" / "library").expanduser(),
        listens_exports=_parse_exports(env.get("LISTENS_EXPORTS", "")),
        torch_device=device,
        embedding_models=_parse_models(env.get("EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODELS)),
        use_demucs=env.get("USE_DEMUCS", "false").strip().lower() in {"1", "true", "yes", "on"},
        excerpt_seconds=float(env.get("EXCERPT_SECONDS") or 0),
        analysis_workers=max(1, int(env.get("ANALYSIS_WORKERS") or os.cpu_count() or 1)),
        beets_library=Path(env["BEETS_LIBRARY"]).expanduser() if env.get("BEETS_LIBRARY") else None,
        beets_music_dir=(Path(env["BEETS_MUSIC_DIR"]).expanduser() if env.get("BEETS_MUSIC_DIR")
                         else None),
        ingest_listens_interval_minutes=int(env.get("INGEST_LISTENS_INTERVAL_MINUTES") or 60),
        lastfm_sync_interval_minutes=int(env.get("LASTFM_SYNC_INTERVAL_MINUTES") or 1440),
        aggregate_weeks_start=(_parse_week_start(env["AGGREGATE_WEEKS_START"]) if env.get("AGGREGATE_WEEKS_START")
                               else DEFAULT_AGGREGATE_WEEKS_START),
        aggregate_weeks_interval_minutes=int(env.get("AGGREGATE_WEEKS_INTERVAL_MINUTES") or 60),
        audio_scan_interval_seconds=int(env.get("AUDIO_SCAN_INTERVAL_SECONDS") or 300),
        audio_settle_seconds=int(env.get("AUDIO_SETTLE_SECONDS") or 60),
        api_retry_attempts=int(env.get("API_RETRY_ATTEMPTS") or 3),
        api_retry_delay_seconds=float(env.get("API_RETRY_DELAY_SECONDS") or 30),
    )
