"""Weekly mixtapes (mixtape, mixtape_track); listening outliers per week.

`weekly_mixtapes` (weekly partitions) stores one `mixtape` row per user and local week: the
tracks in play order (status 'ok'), or why none could be made (status 'skipped', e.g. the week's
dominant cluster holds less than 60 minutes of local music). Re-materialising a week replaces its
rows (unique user, week, method; tracks go with their mixtape).

`listening_outlier` becomes weekly: the outliers as of the end of each local week (the 90 days
up to it), keyed by week. Its rows are derived data: they are dropped here and the weekly
`listening_outliers` asset writes them again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        create table mixtape (
            mixtape_id     bigserial primary key,
            user_id        integer not null references users on delete cascade,
            week           date not null,           -- the user's local Monday
            method         text not null,           -- selection method, e.g. kmedoids-hdbscan-v1
            status         text not null check (status in ('ok', 'skipped')),
            reason         text,                    -- why it was skipped
            cluster_method text,                    -- track_cluster.method the cluster comes from
            cluster        integer,                 -- the week's dominant cluster
            cluster_size   integer,
            week_listens   integer,
            target_minutes double precision,
            minutes        double precision,        -- total length of the tracks
            tracks         integer,
            created_at     timestamptz not null default now(),
            unique (user_id, week, method),
            check (status = 'skipped' or (minutes is not null and tracks > 0))
        );
        create index mixtape_week on mixtape (week);

        create table mixtape_track (
            mixtape_id bigint not null references mixtape on delete cascade,
            position   integer not null check (position >= 1),
            track_id   integer not null references track on delete cascade,
            duration_s double precision not null check (duration_s > 0),
            bpm        double precision,
            key        text,
            mode       text,
            primary key (mixtape_id, position)
        );

        delete from listening_outlier;
        alter table listening_outlier add column week date not null;
        alter table listening_outlier drop constraint listening_outlier_pkey;
        alter table listening_outlier add primary key (user_id, week, track_id, method);
        create index listening_outlier_week on listening_outlier (week);
    """)


def downgrade() -> None:
    op.execute("""
        drop table if exists mixtape_track;
        drop table if exists mixtape;
        delete from listening_outlier;
        drop index if exists listening_outlier_week;
        alter table listening_outlier drop constraint listening_outlier_pkey;
        alter table listening_outlier drop column week;
        alter table listening_outlier add primary key (user_id, track_id, method);
    """)
