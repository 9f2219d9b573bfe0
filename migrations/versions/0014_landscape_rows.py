"""Each partnership's landscape row, kept by the writes as the JSON a page sends
(app.market.landscape; issue 19: a landscape page made every row from six tables and ranked
each partnership's figures, at a fifth of a list page's speed), filled here from the records
already stored.

The fill runs the app's own row code (`refill`): a row's JSON is what that code makes, and
each row carries the `SHAPE` of the code that made it, so a row this fill made with code of
another shape is made again as the page is read; it is never shown stale.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "landscape_rows",
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("shape", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("partnership_id", name=op.f("pk_landscape_rows")),
    )
    from app.market.landscape import refill  # the app's row code, as the writes run it

    refill(op.get_bind())


def downgrade() -> None:
    op.drop_table("landscape_rows")
