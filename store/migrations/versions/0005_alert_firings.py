"""alert firings (rule, figures, examples, threads) and deliveries that know their firing, revision, kind, due time
and digest; mentions indexed by time and by brand and time (reports, spike rules)

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sqlmodel.sql.sqltypes.UTCDateTime
_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_index("ix_mention_created_at", "mention", ["created_at"], unique=False)
    op.create_index("ix_mention_brand_created_at", "mention", ["brand", "created_at"], unique=False)
    op.create_table(
        "alertfiring",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", _STR(length=100), nullable=False),
        sa.Column("kind", _STR(length=40), nullable=False),
        sa.Column("key", _STR(length=200), nullable=False),
        sa.Column("brand", _STR(length=100), nullable=True),
        sa.Column("network", _STR(length=20), nullable=True),
        sa.Column("title", _STR(length=300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("thread_ids", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS(), nullable=False),
        sa.Column("updated_at", _TS(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule", "key", name="uq_alert_firing_rule_key"),
    )
    with op.batch_alter_table("alertfiring", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alertfiring_created_at"), ["created_at"], unique=False)

    # Existing deliveries are first alerts (revision 0, kind alert) of no stored firing.
    with op.batch_alter_table("alertevent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("firing_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("kind", _STR(length=20), nullable=False, server_default="alert"))
        batch_op.add_column(sa.Column("due_at", _TS(), nullable=True))
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alertevent_firing_id"), ["firing_id"], unique=False)
        batch_op.create_foreign_key("fk_alertevent_firing_id", "alertfiring", ["firing_id"], ["id"])
        batch_op.create_foreign_key("fk_alertevent_digest_id", "alertevent", ["digest_id"], ["id"])
        batch_op.create_unique_constraint(
            "uq_alert_firing_subscriber_revision", ["firing_id", "subscriber", "revision"]
        )


def downgrade() -> None:
    with op.batch_alter_table("alertevent", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alert_firing_subscriber_revision", type_="unique")
        batch_op.drop_constraint("fk_alertevent_digest_id", type_="foreignkey")
        batch_op.drop_constraint("fk_alertevent_firing_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alertevent_firing_id"))
        batch_op.drop_column("digest_id")
        batch_op.drop_column("due_at")
        batch_op.drop_column("kind")
        batch_op.drop_column("revision")
        batch_op.drop_column("firing_id")
    with op.batch_alter_table("alertfiring", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alertfiring_created_at"))
    op.drop_table("alertfiring")
    op.drop_index("ix_mention_brand_created_at", table_name="mention")
    op.drop_index("ix_mention_created_at", table_name="mention")
