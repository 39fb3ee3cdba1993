"""Where the dbt project lives, and making sure its manifest exists before Dagster loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(os.environ.get("SIDETRACK_DBT_PROJECT_DIR")
                       or Path(__file__).resolve().parents[2] / "dbt_project")


# The dbt next to this interpreter (the venv is often not on PATH when run as .venv/bin/sidetrack).
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else "dbt"


def _stale(manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()]
    sources += [DBT_PROJECT_DIR / "dbt_project.yml"]
    return any(p.stat().st_mtime > built for p in sources if p.exists())


def ensure_manifest() -> Path:
    """Run `dbt parse` when target/manifest.json is missing or older than the models."""
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if _stale(manifest):
        subprocess.run([DBT_EXECUTABLE, "parse", "--quiet",
                        "--profiles-dir", str(DBT_PROJECT_DIR)],
                       cwd=DBT_PROJECT_DIR, check=True)
    return manifest


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
