"""Partial indexes for the landscape's lower tiers: a battery's own energy densities (tied
to no partnership) and a partner's own (tied to neither), found without walking every
partnership's figures that share the battery or the partner (issue 19: at a million
figures, the landscape's first page walked 25,000 of them for 50 partners).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_energy_densities_battery_own": ("battery_id", "partnership_id IS NULL"),
    "ix_energy_densities_partner_own": (
        "battery_partner_id",
        "battery_id IS NULL AND partnership_id IS NULL",
    ),
}


def upgrade() -> None:
    for name, (column, where) in INDEXES.items():
        op.create_index(
            name,
            "energy_densities",
            [column],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="energy_densities")
