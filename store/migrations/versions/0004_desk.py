"""the triage desk: snooze and tags on threads, internal notes, presence, undoable actions, customer merges,
CRM fields, and full-text search over mention text

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sqlmodel.sql.sqltypes.UTCDateTime
_STR = sqlmodel.sql.sqltypes.AutoString

# SQLite: an external-content FTS5 index over mention.text, kept in step by triggers. PostgreSQL: a GIN index on
# the 'simple' tsvector (no stemming: brand names, order numbers and handles must match as typed).
FTS_SQLITE = [
    "CREATE VIRTUAL TABLE mention_fts USING fts5(text, content='mention', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER mention_fts_ai AFTER INSERT ON mention BEGIN "
    "INSERT INTO mention_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER mention_fts_ad AFTER DELETE ON mention BEGIN "
    "INSERT INTO mention_fts(mention_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER mention_fts_au AFTER UPDATE OF text ON mention BEGIN "
    "INSERT INTO mention_fts(mention_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO mention_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO mention_fts(mention_fts) VALUES ('rebuild')",
]
FTS_POSTGRES = ["CREATE INDEX ix_mention_text_fts ON mention USING gin (to_tsvector('simple', text))"]


def upgrade() -> None:
    op.add_column("thread", sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("thread", sa.Column("snoozed_until", _TS(), nullable=True))
    op.add_column(
        "thread", sa.Column("snooze_until_reply", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("customer", sa.Column("email", _STR(length=320), nullable=True))
    op.add_column("customer", sa.Column("external_id", _STR(length=100), nullable=True))
    op.add_column("customer", sa.Column("crm_handles", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("customer", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.create_index("ix_customer_email", "customer", ["email"])
    op.create_index("ix_customer_external_id", "customer", ["external_id"], unique=True)

    op.create_table(
        "threadnote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("responder", _STR(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_threadnote_thread_id", "threadnote", ["thread_id"])
    op.create_table(
        "presence",
        sa.Column("responder", _STR(length=100), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", _TS(), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.PrimaryKeyConstraint("responder"),
    )
    op.create_index("ix_presence_thread_id", "presence", ["thread_id"])
    op.create_table(
        "deskaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("responder", _STR(length=100), nullable=False),
        sa.Column("kind", _STR(length=40), nullable=False),
        sa.Column("thread_ids", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS(), nullable=False),
        sa.Column("undone_at", _TS(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deskaction_responder", "deskaction", ["responder"])
    op.create_table(
        "customermerge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("into_customer_id", sa.Integer(), nullable=False),
        sa.Column("from_customer_id", sa.Integer(), nullable=False),
        sa.Column("identity_ids", sa.JSON(), nullable=False),
        sa.Column("thread_ids", sa.JSON(), nullable=False),
        sa.Column("responder", _STR(length=100), nullable=False),
        sa.Column("created_at", _TS(), nullable=False),
        sa.Column("undone_at", _TS(), nullable=True),
        sa.ForeignKeyConstraint(["from_customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["into_customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customermerge_into_customer_id", "customermerge", ["into_customer_id"])

    for statement in FTS_SQLITE if op.get_bind().dialect.name == "sqlite" else FTS_POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("mention_fts_ai", "mention_fts_ad", "mention_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS mention_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_mention_text_fts")
    op.drop_table("customermerge")
    op.drop_table("deskaction")
    op.drop_table("presence")
    op.drop_table("threadnote")
    op.drop_index("ix_customer_external_id", table_name="customer")
    op.drop_index("ix_customer_email", table_name="customer")
    op.drop_column("customer", "merged_into_id")
    op.drop_column("customer", "crm_handles")
    op.drop_column("customer", "external_id")
    op.drop_column("customer", "email")
    op.drop_column("thread", "snooze_until_reply")
    op.drop_column("thread", "snoozed_until")
    op.drop_column("thread", "tags")
