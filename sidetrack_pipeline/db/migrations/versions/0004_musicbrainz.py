"""MusicBrainz metadata: resolution state, ISRCs, artist credits, labels, recording relations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        alter table track
            add column isrcs         text[] not null default '{}',
            add column mb_status     text check (mb_status in
                                     ('resolved', 'matched', 'not_found', 'ambiguous', 'error')),
            add column mb_checked_at timestamptz,
            add column mb_note       text;       -- why the last resolution failed or found nothing
        create index track_isrcs_idx on track using gin (isrcs);
        -- The tracks MusicBrainz resolution still has to look at.
        create index track_mb_pending_idx on track (track_id)
            where mb_status is null or mb_status = 'error';

        alter table artist
            add column sort_name text,
            add column type      text,
            add column country   text;

        alter table release
            add column release_group_mbid uuid,
            add column date               text,
            add column country            text;

        -- Every credited artist of a recording, in credit order ("A feat. B").
        create table track_artist (
            track_id      integer not null references track on delete cascade,
            position      smallint not null,
            artist_id     integer not null references artist on delete cascade,
            credited_name text not null,
            join_phrase   text not null default '',
            primary key (track_id, position)
        );

        create table label (
            label_id serial primary key,
            mbid     uuid unique,
            name     text not null
        );

        create table release_label (
            release_id     integer not null references release on delete cascade,
            label_id       integer not null references label on delete cascade,
            catalog_number text not null default '',
            primary key (release_id, label_id, catalog_number)
        );

        -- Recording-level relations as MusicBrainz states them (remix of, DJ-mix of, performance
        -- of a work, with attributes such as 'cover'); graph_edges are derived from these.
        create table recording_relation (
            track_id     integer not null references track on delete cascade,
            kind         text not null,          -- MusicBrainz relation type, e.g. 'remix'
            direction    text not null check (direction in ('forward', 'backward')),
            target_type  text not null,          -- 'recording' | 'work'
            target_mbid  uuid not null,
            attributes   text[] not null default '{}',
            primary key (track_id, kind, direction, target_type, target_mbid)
        );
        create index recording_relation_target_idx on recording_relation (target_mbid);
    """)


def downgrade() -> None:
    op.execute("""
        drop table if exists recording_relation;
        drop table if exists release_label;
        drop table if exists label;
        drop table if exists track_artist;
        alter table release drop column if exists release_group_mbid,
                            drop column if exists date, drop column if exists country;
        alter table artist drop column if exists sort_name, drop column if exists type,
                           drop column if exists country;
        drop index if exists track_mb_pending_idx;
        drop index if exists track_isrcs_idx;
        alter table track drop column if exists isrcs, drop column if exists mb_status,
                          drop column if exists mb_checked_at, drop column if exists mb_note;
    """)
