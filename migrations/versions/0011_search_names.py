"""Ranked search without listing every text match (app.views.search; issue 19: "energy
12" listed all 60,000 text matches at a million records before ranking them). SQLite reads
the matches tier by tier, newest first, and stops at the page: btree indexes on the
entries' normalised names (an exact or prefix name), and an FTS5 trigram table over the
names (a name that holds the query), beside the one over the text. Postgres ranks the
hits whose names hold the query first: trigram indexes on the names.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMES = "label_norm, local_norm"
UPGRADE = [
    # Every version (not only the current: partial indexes kept SQLite from reading both
    # under one OR).
    "CREATE INDEX ix_search_names_label ON search_entry_versions (label_norm)",
    "CREATE INDEX ix_search_names_local ON search_entry_versions (local_norm)",
    f"CREATE VIRTUAL TABLE search_names_fts USING fts5({NAMES}, "
    "content='search_entry_versions', content_rowid='seq', tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER search_names_ai AFTER INSERT ON search_entry_versions BEGIN "
    f"INSERT INTO search_names_fts(rowid, {NAMES}) "
    "VALUES (new.seq, new.label_norm, new.local_norm); END",
    "CREATE TRIGGER search_names_ad AFTER DELETE ON search_entry_versions BEGIN "
    f"INSERT INTO search_names_fts(search_names_fts, rowid, {NAMES}) "
    "VALUES ('delete', old.seq, old.label_norm, old.local_norm); END",
    f"CREATE TRIGGER search_names_au AFTER UPDATE OF {NAMES} ON search_entry_versions BEGIN "
    f"INSERT INTO search_names_fts(search_names_fts, rowid, {NAMES}) "
    "VALUES ('delete', old.seq, old.label_norm, old.local_norm); "
    f"INSERT INTO search_names_fts(rowid, {NAMES}) "
    "VALUES (new.seq, new.label_norm, new.local_norm); END",
    "INSERT INTO search_names_fts(search_names_fts) VALUES ('rebuild')",
]
POSTGRES = {
    "ix_search_names_label_trgm": "label_norm",
    "ix_search_names_local_trgm": "local_norm",
}
DOWNGRADE = [
    "DROP TABLE search_names_fts",
    "DROP TRIGGER search_names_ai",
    "DROP TRIGGER search_names_ad",
    "DROP TRIGGER search_names_au",
    "DROP INDEX ix_search_names_local",
    "DROP INDEX ix_search_names_label",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in UPGRADE:
            op.execute(statement)
        return
    for name, column in POSTGRES.items():
        op.execute(
            f"CREATE INDEX {name} ON search_entry_versions USING gin ({column} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWNGRADE:
            op.execute(statement)
        return
    for name in POSTGRES:
        op.execute(f"DROP INDEX {name}")
