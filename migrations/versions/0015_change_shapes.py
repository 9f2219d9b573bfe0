"""Each change log entry's `shape`: how the code that wrote its record's JSON writes records
(app.resources.formats.record_shape). A list page splices the JSON of each record's current
version from the change log when it is of today's shape (app.resources.stored; issue 19).

Entries written before have none, and their records are made from the columns as before;
`battery-intel mark-stored` gives today's shape to the entries whose JSON is what today's
code makes (it compares them), which only makes their list pages faster.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shape", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_column("shape")
