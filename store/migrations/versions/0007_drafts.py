"""drafts: what a responder typed on a thread and has not sent, kept until it is sent or discarded

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sqlmodel.sql.sqltypes.UTCDateTime
_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("responder", _STR(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mode", _STR(length=20), nullable=False),
        sa.Column("template", _STR(length=100), nullable=True),
        sa.Column("updated_at", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "responder", name="uq_draft_thread_responder"),
    )
    op.create_index("ix_draft_thread_id", "draft", ["thread_id"])


def downgrade() -> None:
    op.drop_index("ix_draft_thread_id", table_name="draft")
    op.drop_table("draft")
