"""Schema migrations with Alembic, configured in code so they run from an installed package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from sidetrack_pipeline.db.connection import database_url, sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: escape '%' in URLs.
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> str:
    """Bring the schema to `revision`; return the URL migrated."""
    url = url or database_url()
    command.upgrade(alembic_config(url), revision)
    return url


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
