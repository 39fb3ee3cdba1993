"""Change-points found by the Python detectors (PELT), and the alerts raised for new ones.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- One row per detected change in a user's weekly mood series (per axis and method).
        -- `week`: first week of the new regime; `detected_week`: last week the detector had seen.
        create table change_point_detection (
            user_id       integer not null references users on delete cascade,
            axis          text not null,
            week          date not null,
            detected_week date not null,
            direction     text not null check (direction in ('up', 'down')),
            magnitude     double precision not null,
            statistic     double precision not null check (statistic >= 0),
            method        text not null,
            detected_at   timestamptz not null default now(),
            primary key (user_id, axis, week, method)
        );

        -- Change-points already alerted on (any method), so each is reported once.
        create table change_point_alert (
            user_id    integer not null references users on delete cascade,
            axis       text not null,
            week       date not null,
            method     text not null,
            direction  text not null,
            magnitude  double precision not null,
            alerted_at timestamptz not null default now(),
            primary key (user_id, axis, week, method)
        );
    """)


def downgrade() -> None:
    op.execute("""
        drop table if exists change_point_alert;
        drop table if exists change_point_detection;
    """)
