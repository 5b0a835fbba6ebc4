"""urgency explanation: the words that pushed each mention's urgency up, and the risk categories it matched

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both back ends (SQLite has had ADD and DROP COLUMN since 3.35): a batch copy of the
# mention table, the biggest there is, would take minutes on a busy desk's database.
def upgrade() -> None:
    # The server default fills the mentions stored before this revision: scored, with nothing explained.
    op.add_column("mention", sa.Column("explanation", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("mention", sa.Column("risks", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("mention", "risks")
    op.drop_column("mention", "explanation")
