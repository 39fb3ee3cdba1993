"""Vibe scoring beyond the audio formulas: provenance of every score, the zero-shot lexicon,
the tag→axis dictionary, per-score contributions (for `explain`), personal calibration.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- Where a score's evidence comes from: the track's own audio, web tags, the lexicon,
        -- a fusion of those, or propagation from neighbours (tracks without audio or tags).
        alter table mood_scores
            add column provenance text not null default 'audio'
                check (provenance in ('audio', 'tags', 'lexicon', 'fused', 'propagated'));

        -- Zero-shot lexicon: one row per track × word × method (e.g. zeroshot-musicnn-v1).
        create table lexicon_scores (
            track_id    integer not null references track on delete cascade,
            word        text not null,
            method      text not null,
            value       double precision not null check (value between 0 and 1),
            confidence  double precision not null default 1 check (confidence between 0 and 1),
            computed_at timestamptz not null default now(),
            primary key (track_id, word, method)
        );

        -- Tag → axis dictionary: the curated seed, and unseen tags mapped by text similarity.
        create table tag_axis_map (
            tag        text not null,
            axis       text not null,
            weight     double precision not null check (weight between -1 and 1),
            source     text not null check (source in ('seed', 'similarity')),
            similarity double precision,   -- for 'similarity': cosine to the seed tag it follows
            via_tag    text,               -- for 'similarity': that seed tag
            primary key (tag, axis)
        );

        -- What moved each score (explain): a feature, tag, lexicon word, neighbour or prior,
        -- and its signed contribution to the value.
        create table score_contribution (
            track_id     integer not null references track on delete cascade,
            axis         text not null,
            method       text not null,
            kind         text not null check (kind in ('feature', 'tag', 'word', 'method', 'neighbour', 'prior')),
            name         text not null,
            contribution double precision not null,
            primary key (track_id, axis, method, kind, name)
        );

        -- Personal calibration: a fitted model per user and axis, and its predictions.
        create table user_axis_model (
            user_id    integer not null references users on delete cascade,
            axis       text not null,
            method     text not null,
            n_labels   integer not null,
            params     jsonb not null,      -- coefficients, calibration map, feature names
            metrics    jsonb not null default '{}',
            fitted_at  timestamptz not null default now(),
            primary key (user_id, axis, method)
        );

        create table user_track_scores (
            user_id     integer not null references users on delete cascade,
            track_id    integer not null references track on delete cascade,
            axis        text not null,
            method      text not null,
            value       double precision not null check (value between 0 and 1),
            confidence  double precision not null default 1 check (confidence between 0 and 1),
            computed_at timestamptz not null default now(),
            primary key (user_id, track_id, axis, method)
        );
    """)


def downgrade() -> None:
    op.execute("""
        drop table if exists user_track_scores;
        drop table if exists user_axis_model;
        drop table if exists score_contribution;
        drop table if exists tag_axis_map;
        drop table if exists lexicon_scores;
        alter table mood_scores drop column if exists provenance;
    """)
