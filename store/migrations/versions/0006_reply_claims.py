"""replies remember who claimed them and since when (one sender per reply, a lease for a stopped one), and the
account they were sent as (a retry looks for the earlier post by that account)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sqlmodel.sql.sqltypes.UTCDateTime
_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    # Replies left in "sending" by an earlier version have no claim: the next sender takes them over and looks
    # for the post before sending again, as before.
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", _STR(length=200), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", _TS(), nullable=True))
        batch_op.add_column(sa.Column("sent_as", _STR(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.drop_column("sent_as")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")
