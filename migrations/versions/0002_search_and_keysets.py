"""Text search index; updated_at keyset indexes; two filter indexes 0001 missed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:14:01
"""

import json
import unicodedata
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "automakers", "batteries", "battery_partners", "energy_densities", "milestones",
    "partnerships", "sources",
)  # fmt: skip

FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(text, content='search_entries', "
    "content_rowid='seq', tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN "
    "INSERT INTO search_fts(rowid, text) VALUES (new.seq, new.text); END",
    "CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.seq, old.text); END",
    "CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.seq, old.text); "
    "INSERT INTO search_fts(rowid, text) VALUES (new.seq, new.text); END",
]
TRGM = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_search_entries_text_trgm ON search_entries USING gin (text gin_trgm_ops)",
]


def upgrade() -> None:
    entries = op.create_table(
        "search_entries",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("collection", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=403), nullable=False),
        sa.Column("label_norm", sa.String(length=403), nullable=False),
        sa.Column("local_norm", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_search_entries")),
        sa.UniqueConstraint(
            "collection", "record_id", name=op.f("uq_search_entries_collection_record_id")
        ),
    )
    for table in TABLES:
        op.create_index(f"ix_{table}_updated_at_id", table, ["updated_at", "id"])
    # Filterable and sortable, but missed by 0001.
    op.create_index("ix_energy_densities_value_max", "energy_densities", ["value_max"])
    op.create_index("ix_milestones_date_precision", "milestones", ["date_precision"])
    bind = op.get_bind()
    for statement in FTS if bind.dialect.name == "sqlite" else TRGM:
        op.execute(statement)
    op.bulk_insert(entries, list(_existing_entries(bind)))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    for table in TABLES:
        op.drop_index(f"ix_{table}_updated_at_id", table_name=table)
    op.drop_index("ix_milestones_date_precision", table_name="milestones")
    op.drop_index("ix_energy_densities_value_max", table_name="energy_densities")
    op.drop_table("search_entries")  # its indexes and triggers go with it


# The records already stored, indexed as the app indexed them when this was written: the
# label, the joined names, then the searched fields in each collection's declared order
# (now app.resources.text_index).
def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _existing_entries(bind: sa.Connection) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def add(
        collection: str, record_id: object, label: str, parts: list[object], local: object = None
    ) -> None:
        text = "\n".join(str(p) for p in [label, *parts] if p)
        rows.append({
            "record_id": record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(str(record_id)),
            "collection": collection, "label": label[:403], "label_norm": _norm(label)[:403],
            "local_norm": _norm(str(local or "")),
            "text": _norm(text),
        })  # fmt: skip

    def select(sql: str) -> list[sa.Row[tuple[object, ...]]]:
        return list(bind.execute(sa.text(sql)))

    for table, collection in (
        ("automakers", "automakers"),
        ("battery_partners", "battery-partners"),
    ):
        extra = "headquarters" if table == "battery_partners" else "NULL"
        for r in select(f"SELECT id, name, name_local, slug, description, {extra} FROM {table}"):
            add(collection, r[0], str(r[1]), list(r[1:]), local=r[2])
    for r in select(
        "SELECT id, name, slug, description, cathode, anode, electrolyte FROM batteries"
    ):
        add("batteries", r[0], str(r[1]), list(r[1:]))
    for r in select("SELECT id, title, slug, note, publisher FROM sources"):
        add("sources", r[0], str(r[1]), list(r[1:]))
    for r in select("SELECT id, title, description FROM milestones"):
        add("milestones", r[0], str(r[1]), list(r[1:]))
    for r in select(
        "SELECT p.id, a.name, b.name, p.description, p.commercialization_status, p.vehicle_models"
        " FROM partnerships p"
        " JOIN automakers a ON a.id = p.automaker_id JOIN battery_partners b ON b.id = p.battery_partner_id"
    ):
        models = r[5] if isinstance(r[5], list) else json.loads(r[5] or "[]")
        add("partnerships", r[0], f"{r[1]} × {r[2]}", [*r[1:5], *models])
    for r in select(
        "SELECT e.id, b.name, e.value_min, e.value_max, e.unit, e.note FROM energy_densities e"
        " JOIN battery_partners b ON b.id = e.battery_partner_id"
    ):
        low, high, unit = r[2], r[3], r[4]
        shown = _number(low) + ("+" if high is None else "" if high == low else f"–{_number(high)}")  # type: ignore[arg-type]
        add("energy-densities", r[0], f"{shown} {unit}", [r[1], r[5]])
    return rows
