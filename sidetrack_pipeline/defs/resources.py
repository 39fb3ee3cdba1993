"""Dagster resources: the database and the compute device."""


from contextlib import contextmanager
from typing import Iterator

import dagster as dg

from sidetrack_pipeline.db.connection import connect, database_url, libpq_params
from sidetrack_pipeline.db.migrate import upgrade
from sidetrack_pipeline.devices import select_device
from sidetrack_pipeline.settings import get_settings


class DatabaseResource(dg.ConfigurableResource):
    """PostgreSQL + pgvector: SIDETRACK_DATABASE_URL, or the embedded server (started on demand)."""

    url: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every run brings the schema up to date first (idempotent, cheap when current).
        upgrade(self.get_url())

    def get_url(self) -> str:
        return self.url or database_url()

    @contextmanager
    def connect(self) -> Iterator:
        """One psycopg2 transaction: committed on success, rolled back on error."""
        with connect(self.get_url()) as conn:
            yield conn

    def dbt_env(self) -> dict[str, str]:
        """The SIDETRACK_PG* variables dbt_project/profiles.yml reads."""
        params = libpq_params(self.get_url())
        return {f"SIDETRACK_PG{k.upper() if k != 'dbname' else 'DATABASE'}": v for k, v in params.items()}


class DeviceResource(dg.ConfigurableResource):
    """Where tensor work runs: TORCH_DEVICE=auto|cuda|cpu, with automatic CPU fallback."""

    preference: str | None = None   # default: the TORCH_DEVICE setting

    def select(self, log=None) -> str:
        device, reason = select_device(self.preference or get_settings().torch_device)
        if log is not None:
            log.info(f"compute device: {device} ({reason})")
        return device
