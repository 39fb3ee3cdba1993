"""Index listen (user_id, track_id): "how often did this user play this track" without a scan.

The dashboard's track search counts each match's plays for the signed-in user; with only
listen_once (user_id, played_at, track_id) PostgreSQL scanned the user's whole history per
matching track (3.5 s for 1 111 matches at 1M listens, benchmarks/RESULTS.md dashboard-speed);
with this index each count is an index-only lookup (0.03-0.06 s for the same search).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create index if not exists listen_user_track_idx on listen (user_id, track_id)")


def downgrade() -> None:
    op.execute("drop index if exists listen_user_track_idx")
