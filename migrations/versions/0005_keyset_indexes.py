"""Keyset indexes (field, id) on every number and date: deep pages sorted by one seek.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As app.resources.records.table_args (then app.market.base) derives them when this was written.
INDEXES = {
    "sources": ["published_on"],
    "battery_partners": ["founded_year"],
    "batteries": ["pack_capacity_kwh"],
    "partnerships": ["started_on"],
    "energy_densities": ["value_min", "value_max", "as_of"],
    "milestones": ["date"],
}


def upgrade() -> None:
    for table, fields in INDEXES.items():
        for field in fields:
            op.create_index(f"ix_{table}_{field}_id", table, [field, "id"])
    # Planner statistics, so that a filtered, sorted page walks the new index instead of
    # sorting every match (the app refreshes SQLite's at start; autovacuum Postgres').
    op.execute("ANALYZE")


def downgrade() -> None:
    for table, fields in INDEXES.items():
        for field in fields:
            op.drop_index(f"ix_{table}_{field}_id", table_name=table)
