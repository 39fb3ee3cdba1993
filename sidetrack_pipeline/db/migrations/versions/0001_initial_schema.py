"""Initial schema: catalogue, listens, audio analysis, scores, labels, graph, ingestion state.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AXES = (
    "energy", "valence", "danceability", "brightness", "rhythmic_complexity",
    "pumpiness", "texture_density", "stereo_size", "tempo", "mode_confidence",
)
# Dimension of the handcrafted MIR track vector (sidetrack_pipeline.scoring.vectors).
MIR_VECTOR_DIM = 16

SCHEMA = f"""
create extension if not exists vector;

create table users (
    user_id     serial primary key,
    user_name   text not null unique,
    timezone    text not null default 'UTC',
    created_at  timestamptz not null default now()
);

-- Natural keys: 'mbid:<uuid>' when MusicBrainz knows the entity, else 'name:<normalised text>'.
create table artist (
    artist_id   serial primary key,
    artist_key  text not null unique,
    mbid        uuid unique,
    name        text not null,
    created_at  timestamptz not null default now()
);

create table release (
    release_id  serial primary key,
    release_key text not null unique,
    mbid        uuid unique,
    title       text not null,
    artist_id   integer references artist,
    created_at  timestamptz not null default now()
);

create table track (
    track_id    serial primary key,
    track_key   text not null unique,
    name_key    text not null,            -- '<normalised artist>|<normalised title>'
    mbid        uuid,
    title       text not null,
    artist_id   integer not null references artist,
    release_id  integer references release,
    duration_ms integer,
    local_path  text unique,
    fingerprint text,                    -- sha256 of the matched local file's bytes
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index track_mbid_idx on track (mbid);
create index track_name_key_idx on track (name_key);

-- One row per distinct export file and user; importing the same file again updates it.
create table listen_import (
    import_id    serial primary key,
    user_id      integer not null references users,
    source       text not null,
    content_hash text not null,
    path         text not null,
    imported_at  timestamptz not null default now(),
    lines_read   integer not null default 0,
    inserted     integer not null default 0,
    duplicates   integer not null default 0,
    rejected     integer not null default 0,
    unique (user_id, source, content_hash)
);

-- Lines an import could not use, kept verbatim so nothing is lost.
create table listen_reject (
    import_id  integer not null references listen_import on delete cascade,
    file       text not null,
    line_no    integer not null,
    reason     text not null,
    raw        text not null,
    primary key (import_id, file, line_no)
);

create table listen (
    listen_id      bigint generated always as identity,
    user_id        integer not null references users,
    track_id       integer not null references track,
    played_at      timestamptz not null,
    source         text not null check (source in ('listenbrainz', 'lastfm')),
    recording_msid text,
    import_id      integer references listen_import on delete set null,
    inserted_at    timestamptz not null default now(),
    primary key (listen_id, played_at),
    -- The same play can never be stored twice (played_at is kept to the second).
    constraint listen_once unique (user_id, track_id, played_at)
);
create index listen_user_time_idx on listen (user_id, played_at);

create table sync_cursor (
    user_id     integer not null references users,
    source      text not null,
    cursor      jsonb not null,
    updated_at  timestamptz not null default now(),
    primary key (user_id, source)
);

create table audio_file (
    path           text primary key,
    content_hash   text not null,
    size_bytes     bigint not null,
    mtime          double precision not null,
    duration_s     double precision,
    recording_mbid uuid,
    artist         text,
    title          text,
    album          text,
    tags           jsonb not null default '{{}}',
    scanned_at     timestamptz not null default now()
);
create index audio_file_hash_idx on audio_file (content_hash);

create table features (
    track_id             integer primary key references track on delete cascade,
    content_hash         text not null,
    analyzer_version     text not null,
    duration_s           double precision,
    bpm                  double precision,
    bpm_confidence       double precision,
    key                  text,
    mode                 text check (mode in ('major', 'minor')),
    key_confidence       double precision,
    loudness_lufs        double precision,
    loudness_range_lu    double precision,
    spectral_centroid_hz double precision,
    onset_rate           double precision,
    stereo_width         double precision,
    lr_correlation       double precision,
    pumpiness            double precision,
    danceability         double precision,
    dynamic_complexity   double precision,
    extra                jsonb not null default '{{}}',
    analyzed_at          timestamptz not null default now()
);

create table analysis_error (
    path             text primary key,
    track_id         integer references track on delete cascade,
    content_hash     text,
    analyzer_version text not null,
    error            text not null,
    failed_at        timestamptz not null default now()
);

create table embeddings (
    track_id    integer not null references track on delete cascade,
    model       text not null,
    dim         integer not null,
    embedding   vector not null,
    created_at  timestamptz not null default now(),
    primary key (track_id, model),
    check (vector_dims(embedding) = dim)
);
-- ANN index per model: pgvector indexes need a fixed dimension, hence partial expression indexes.
create index embeddings_mir_v1_hnsw on embeddings
    using hnsw ((embedding::vector({MIR_VECTOR_DIM})) vector_cosine_ops) where model = 'mir-v1';

create table mood_scores (
    track_id    integer not null references track on delete cascade,
    axis        text not null,
    method      text not null,
    value       double precision not null check (value between 0 and 1),
    confidence  double precision not null default 1 check (confidence between 0 and 1),
    computed_at timestamptz not null default now(),
    primary key (track_id, axis, method)
);

create table labels_user (
    label_id   serial primary key,
    user_id    integer not null references users,
    track_id   integer not null references track on delete cascade,
    axis       text not null,
    value      double precision not null check (value between 0 and 1),
    source     text not null,
    created_at timestamptz not null default now(),
    unique (user_id, track_id, axis, source)
);

create table graph_edges (
    src_track_id integer not null references track on delete cascade,
    dst_track_id integer not null references track on delete cascade,
    kind         text not null,
    weight       double precision not null default 1,
    created_at   timestamptz not null default now(),
    primary key (src_track_id, dst_track_id, kind)
);

create table tag (
    tag_id serial primary key,
    name   text not null unique
);

create table track_tag (
    track_id   integer not null references track on delete cascade,
    tag_id     integer not null references tag,
    source     text not null,
    weight     double precision not null,
    fetched_at timestamptz not null default now(),
    primary key (track_id, tag_id, source)
);

create table artist_tag (
    artist_id  integer not null references artist on delete cascade,
    tag_id     integer not null references tag,
    source     text not null,
    weight     double precision not null,
    fetched_at timestamptz not null default now(),
    primary key (artist_id, tag_id, source)
);

-- Cached web API responses (MusicBrainz, Last.fm), with a time to live.
create table api_cache (
    url         text primary key,
    status      integer not null,
    body        jsonb,
    fetched_at  timestamptz not null default now(),
    expires_at  timestamptz
);

-- 2-D taste map: where each track sits (written by the analytics layer).
create table track_projection (
    track_id  integer not null references track on delete cascade,
    method    text not null,
    x         double precision not null,
    y         double precision not null,
    fitted_at timestamptz not null default now(),
    primary key (track_id, method)
);

create table taste_trajectory_week (
    user_id   integer not null references users,
    week      date not null,
    method    text not null,
    x         double precision not null,
    y         double precision not null,
    listens   integer not null,
    primary key (user_id, week, method)
);
"""

# TimescaleDB is optional (the compose deployment has it, the embedded server does not).
HYPERTABLE = """
do $$
begin
    if exists (select 1 from pg_available_extensions where name = 'timescaledb') then
        create extension if not exists timescaledb;
        perform create_hypertable('listen', 'played_at', migrate_data => true, if_not_exists => true);
    end if;
end $$;
"""

TABLES = (
    "taste_trajectory_week", "track_projection", "api_cache", "artist_tag", "track_tag", "tag",
    "graph_edges", "labels_user", "mood_scores", "embeddings", "analysis_error", "features",
    "audio_file", "sync_cursor", "listen", "listen_reject", "listen_import", "track", "release",
    "artist", "users",
)


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(
        "alter table mood_scores add constraint mood_scores_axis_check check (axis in ("
        + ", ".join(f"'{a}'" for a in AXES)
        + "))"
    )
    op.execute(HYPERTABLE)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"drop table if exists {table} cascade")
