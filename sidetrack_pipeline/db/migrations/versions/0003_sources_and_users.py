"""Listening sources and users: per-user settings (encrypted tokens), API sync runs, parity merges.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- Per-user settings. Tokens are Fernet-encrypted with SIDETRACK_SECRET_KEY (never plain).
        create table user_settings (
            user_id            integer primary key references users on delete cascade,
            listenbrainz_user  text,
            listenbrainz_token bytea,
            lastfm_user        text,
            settings           jsonb not null default '{}',
            updated_at         timestamptz not null default now()
        );

        -- One row per API sync (ListenBrainz pages, Last.fm pages): what it fetched and wrote.
        create table sync_run (
            run_id      bigint generated always as identity primary key,
            user_id     integer not null references users on delete cascade,
            source      text not null,
            mode        text not null check (mode in ('full', 'incremental')),
            status      text not null default 'running'
                        check (status in ('running', 'ok', 'failed')),
            started_at  timestamptz not null default now(),
            finished_at timestamptz,
            pages       integer not null default 0,
            fetched     integer not null default 0,
            inserted    integer not null default 0,
            duplicates  integer not null default 0,
            merged      integer not null default 0,
            error       text
        );
        create index sync_run_user_idx on sync_run (user_id, source, started_at);

        -- Plays that another source already had (same recording or artist+title, within the
        -- parity window) are not stored twice; imports count them here.
        alter table listen_import add column merged integer not null default 0;
    """)


def downgrade() -> None:
    op.execute("""
        alter table listen_import drop column if exists merged;
        drop table if exists sync_run;
        drop table if exists user_settings;
    """)
