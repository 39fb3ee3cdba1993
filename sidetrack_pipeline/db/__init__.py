"""Database access: the embedded server, connections and schema migrations."""

from sidetrack_pipeline.db.connection import connect, database_url, engine
from sidetrack_pipeline.db.migrate import upgrade

__all__ = ["connect", "database_url", "engine", "upgrade"]
