"""Create the initial schema: roots, photos, captions, attention maps, jobs, failures.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "roots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        _timestamp("added_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roots")),
        sa.UniqueConstraint("path", name=op.f("uq_roots_path")),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        _timestamp("taken_at", nullable=True),
        _timestamp("photo_date"),
        sa.Column(
            "state",
            _enum("photo_state", "pending", "captioned", "failed", "missing"),
            nullable=False,
        ),
        _timestamp("added_at"),
        _timestamp("updated_at"),
        _timestamp("missing_since", nullable=True),
        sa.ForeignKeyConstraint(
            ["root_id"], ["roots.id"], name=op.f("fk_photos_root_id_roots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("path", name=op.f("uq_photos_path")),
    )
    op.create_index(op.f("ix_photos_content_hash"), "photos", ["content_hash"])
    op.create_index(op.f("ix_photos_photo_date"), "photos", ["photo_date"])
    op.create_index("ix_photos_root_id_state", "photos", ["root_id", "state"])

    op.create_table(
        "captions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("source", _enum("caption_source", "model", "human"), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("model_version", sa.String(length=128), nullable=True),
        sa.Column("beam_size", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("word_logprobs", sa.JSON(), nullable=True),
        sa.Column("alternatives", sa.JSON(), nullable=True),
        sa.Column("reviewed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_current", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["captions.id"],
            name=op.f("fk_captions_parent_id_captions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_captions_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captions")),
    )
    # SQLite matches partial indexes textually: its predicate is written as SQLAlchemy
    # renders a boolean test there ("is_current = 1").
    sqlite_current, pg_current = sa.text("is_current = 1"), sa.text("is_current")
    op.create_index(
        "ix_captions_current_confidence",
        "captions",
        ["confidence"],
        sqlite_where=sqlite_current,
        postgresql_where=pg_current,
    )
    op.create_index(op.f("ix_captions_model_version"), "captions", ["model_version"])
    op.create_index(op.f("ix_captions_parent_id"), "captions", ["parent_id"])
    op.create_index(op.f("ix_captions_photo_id"), "captions", ["photo_id"])
    op.create_index(
        "uq_captions_current_photo",
        "captions",
        ["photo_id"],
        unique=True,
        sqlite_where=sqlite_current,
        postgresql_where=pg_current,
    )

    op.create_table(
        "failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_failures_photo_id_photos"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failures")),
    )
    op.create_index(op.f("ix_failures_photo_id"), "failures", ["photo_id"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("state", _enum("job_state", "pending", "running", "failed"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("started_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name=op.f("fk_jobs_photo_id_photos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("photo_id", name=op.f("uq_jobs_photo_id")),
    )
    op.create_index("ix_jobs_state_id", "jobs", ["state", "id"])

    op.create_table(
        "attention_maps",
        sa.Column("caption_id", sa.Integer(), nullable=False),
        sa.Column("n_words", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["caption_id"],
            ["captions.id"],
            name=op.f("fk_attention_maps_caption_id_captions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("caption_id", name=op.f("pk_attention_maps")),
    )


def downgrade() -> None:
    """Revert this revision."""
    for table in ("attention_maps", "jobs", "failures", "captions", "photos", "roots"):
        op.drop_table(table)
