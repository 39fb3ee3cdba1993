"""Listen table for bulk writes: one (user, time, track) key instead of two indexes; no per-row
foreign-key checks on user_id and import_id.

Measured on the import of a 1 000 000-listen export (benchmarks/import_speed.py): PostgreSQL
spends ~8 us per inserted listen with the 0001 layout, most of it in per-row work that is not
needed:

* `listen_once` was unique on (user_id, track_id, played_at) and a second index
  `listen_user_time_idx` on (user_id, played_at) served time-range reads. The same unique key
  ordered (user_id, played_at, track_id) serves both (uniqueness, a user's listens over time,
  the parity window join), and a chronological import appends to it instead of writing all
  over it. One index fewer, same constraint name, same rows allowed.
* The foreign keys listen.user_id → users and listen.import_id → listen_import run one
  SELECT … FOR KEY SHARE per inserted row (about 2.5 us each; the user one alone is a third
  of an import's database time). Every writer takes the user id from `ensure_user` in the
  same transaction, users are never deleted, and import_id only records provenance (import
  rows are never deleted once committed). listen.track_id → track stays: tracks are merged
  and deleted (catalogue reconciliation), so that one guards something real.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        alter table listen
            drop constraint listen_once,
            add constraint listen_once unique (user_id, played_at, track_id),
            drop constraint if exists listen_user_id_fkey,
            drop constraint if exists listen_import_id_fkey;
        drop index if exists listen_user_time_idx;
    """)


def downgrade() -> None:
    op.execute("""
        create index if not exists listen_user_time_idx on listen (user_id, played_at);
        update listen l set import_id = null
            where import_id is not null
              and not exists (select 1 from listen_import i where i.import_id = l.import_id);
        alter table listen
            drop constraint listen_once,
            add constraint listen_once unique (user_id, track_id, played_at),
            add constraint listen_user_id_fkey foreign key (user_id) references users,
            add constraint listen_import_id_fkey foreign key (import_id)
                references listen_import on delete set null;
    """)
