"""Local library matching: identifiers read from tags or a beets database, how each file matched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        alter table audio_file
            add column artist_mbid  uuid,
            add column release_mbid uuid,
            add column isrc         text,
            add column chromaprint  text,               -- fpcalc fingerprint, when installed
            add column tag_source   text not null default 'file'
                                    check (tag_source in ('file', 'beets'));
        create index audio_file_recording_idx on audio_file (recording_mbid);
        create index audio_file_isrc_idx on audio_file (isrc);

        -- How each track found its local file (one row per track that has one).
        create table file_match (
            track_id   integer primary key references track on delete cascade,
            path       text not null references audio_file on delete cascade,
            method     text not null check (method in ('mbid', 'isrc', 'fuzzy', 'fingerprint')),
            score      double precision not null,
            matched_at timestamptz not null default now()
        );
    """)


def downgrade() -> None:
    op.execute("""
        drop table if exists file_match;
        drop index if exists audio_file_isrc_idx;
        drop index if exists audio_file_recording_idx;
        alter table audio_file drop column if exists artist_mbid, drop column if exists release_mbid,
                               drop column if exists isrc, drop column if exists chromaprint,
                               drop column if exists tag_source;
    """)
