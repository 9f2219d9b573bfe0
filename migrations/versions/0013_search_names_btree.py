"""Postgres: btree indexes on the search entries' normalised names, for the exact and prefix
tiers of a search page (app.views.search_tiers). The names' trigram indexes (0011) answer
`= 'motors 1'` only by rechecking every name that holds its trigrams (37,000 at a million
records); SQLite has had these btree indexes since 0011. The pattern operator class serves
`LIKE 'prefix%'` whatever the database's collation.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 17:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES = {
    "ix_search_names_label_pattern": "label_norm",
    "ix_search_names_local_pattern": "local_norm",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, column in POSTGRES.items():
        op.execute(f"CREATE INDEX {name} ON search_entry_versions ({column} varchar_pattern_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for name in POSTGRES:
        op.execute(f"DROP INDEX {name}")
