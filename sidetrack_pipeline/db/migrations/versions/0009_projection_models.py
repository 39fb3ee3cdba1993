"""Taste-map fits, week-to-week trajectory steps, track clusters, weekly dominant clusters, outliers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- The fitted UMAP behind a projection method (the pickle lives in model_file).
        create table projection_fit (
            method       text primary key,
            vector_model text not null,
            n_tracks     integer not null check (n_tracks > 0),
            fitted_at    timestamptz not null,
            model_file   text not null,
            last_decision text not null,  -- why the last run refitted, or that it reused the fit
            updated_at   timestamptz not null default now()
        );

        -- Week-to-week arrows of each user's taste trajectory (consecutive stored weeks).
        create view taste_trajectory_step as
        select user_id, method, week_from, week, x_from, y_from, x, y,
               x - x_from as dx, y - y_from as dy, sqrt((x - x_from) ^ 2 + (y - y_from) ^ 2) as step
        from (
            select user_id, method, week, x, y,
                   lag(week) over w as week_from, lag(x) over w as x_from, lag(y) over w as y_from
            from taste_trajectory_week
            window w as (partition by user_id, method order by week)
        ) t
        where week_from is not null;

        -- HDBSCAN label per track (noise = -1).
        create table track_cluster (
            track_id    integer not null references track on delete cascade,
            method      text not null,
            cluster     integer not null check (cluster >= -1),
            computed_at timestamptz not null default now(),
            primary key (track_id, method)
        );

        -- Each user's week: the cluster with the most listens (noise only if nothing else), its share.
        create table cluster_week (
            user_id  integer not null references users on delete cascade,
            week     date not null,
            method   text not null,
            cluster  integer not null,
            share    double precision not null check (share > 0 and share <= 1),
            primary key (user_id, week, method)
        );

        -- Tracks farthest from the user's trailing listen-weighted centroid (rank 1 = farthest).
        create table listening_outlier (
            user_id     integer not null references users on delete cascade,
            track_id    integer not null references track on delete cascade,
            method      text not null,
            window_end  timestamptz not null,
            distance    double precision not null,
            z           double precision not null,
            rank        integer not null check (rank >= 1),
            primary key (user_id, track_id, method)
        );
    """)


def downgrade() -> None:
    op.execute("""
        drop table if exists listening_outlier;
        drop table if exists cluster_week;
        drop table if exists track_cluster;
        drop view if exists taste_trajectory_step;
        drop table if exists projection_fit;
    """)
