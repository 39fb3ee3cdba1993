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
            -- Fields the file's own tags lack and a beets database supplied (import_beets);
            -- the file's tags always win, and a re-scan keeps these.
            add column beets_fields text[] not null default '{}',
            add column tag_source   text generated always as
                                    (case when cardinality(beets_fields) > 0 then 'beets' else 'file' end) stored;
        create index audio_file_recording_idx on audio_file (recording_mbid);
        create index audio_file_isrc_idx on audio_file (isrc);

        -- How each track found its local file (one row per track that has one). Listened tracks
        -- match by mbid, isrc, fuzzy (artist + title + duration) or fingerprint (moved file);
        -- 'library': a track nobody has listened to, catalogued from the file's own tags.
        create table file_match (
            track_id   integer primary key references track on delete cascade,
            path       text not null unique references audio_file on delete cascade,
            method     text not null
                       check (method in ('mbid', 'isrc', 'fuzzy', 'fingerprint', 'library')),
            score      double precision not null check (score between 0 and 100),
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
                               drop column if exists tag_source, drop column if exists beets_fields;
    """)
