"""Learned embeddings: per-model tag probabilities, provenance of each vector, ANN indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (embeddings.model, dimension): musicnn's penultimate layer pooled over 3-s patches, as the
# 400-d L2-normalised mean+std vector and the 200-d mean.
MUSICNN_VECTORS = (("msd-musicnn", 400), ("msd-musicnn-mean", 200),
                   ("mtt-musicnn", 400), ("mtt-musicnn-mean", 200))


def _index_name(model: str) -> str:
    return "embeddings_" + model.replace("-", "_") + "_hnsw"


def upgrade() -> None:
    op.execute("""
        alter table embeddings
            add column content_hash  text,      -- the audio file the vector was computed from
            add column model_version text;      -- weights/code version; a change means recompute

        create table model_tags (
            track_id     integer not null references track on delete cascade,
            model        text not null,
            tag          text not null,
            probability  double precision not null check (probability between 0 and 1),
            primary key (track_id, model, tag)
        );
        create index model_tags_model_tag_idx on model_tags (model, tag, probability desc);
    """)
    for model, dim in MUSICNN_VECTORS:
        op.execute(f"""create index {_index_name(model)} on embeddings
                       using hnsw ((embedding::vector({dim})) vector_cosine_ops) where model = '{model}'""")


def downgrade() -> None:
    for model, _ in MUSICNN_VECTORS:
        op.execute(f"drop index if exists {_index_name(model)}")
    op.execute("drop table if exists model_tags")
    op.execute("alter table embeddings drop column if exists content_hash, drop column if exists model_version")
