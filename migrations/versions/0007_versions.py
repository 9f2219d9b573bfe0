"""Versions of every record, and of the text index's entries: reads known_at an instant.

Each collection gets `<table>_versions` (its columns, the change's seq, valid_from and
valid_to), filled from the change log: every version a record has had since 0003. The text
index's entries move into `search_entry_versions` (FTS5 on SQLite, pg_trgm on Postgres, as
0002 made them for `search_entries`), and `search_entries` becomes a view of the current
ones. History before this migration has no entries of its own: each current entry is valid
from its record's last change, so a text search at an earlier instant matches a record by
the text it has now (the records' own fields at that instant are exact).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:31:38.389403
"""

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLLECTIONS = {
    "sources": "sources", "automakers": "automakers", "battery-partners": "battery_partners",
    "batteries": "batteries", "partnerships": "partnerships",
    "energy-densities": "energy_densities", "milestones": "milestones",
}  # fmt: skip
ENTRY = "seq, record_id, collection, label, label_norm, local_norm, text"
VIEW = f"CREATE VIEW search_entries AS SELECT {ENTRY} FROM search_entry_versions WHERE valid_to IS NULL"
FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(text, content='search_entry_versions', "
    "content_rowid='seq', tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER search_entry_versions_ai AFTER INSERT ON search_entry_versions BEGIN "
    "INSERT INTO search_fts(rowid, text) VALUES (new.seq, new.text); END",
    "CREATE TRIGGER search_entry_versions_ad AFTER DELETE ON search_entry_versions BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.seq, old.text); END",
    # Closing a version changes valid_to only: the index is touched when the text changes.
    "CREATE TRIGGER search_entry_versions_au AFTER UPDATE OF text ON search_entry_versions BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.seq, old.text); "
    "INSERT INTO search_fts(rowid, text) VALUES (new.seq, new.text); END",
    "INSERT INTO search_fts(search_fts) VALUES ('rebuild')",
]
TRGM = [
    "CREATE INDEX ix_search_entry_versions_text_trgm ON search_entry_versions "
    "USING gin (text gin_trgm_ops)",
]
# As 0002 made them, for the downgrade.
OLD_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(text, content='search_entries', "
    "content_rowid='seq', tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN "
    "INSERT INTO search_fts(rowid, text) VALUES (new.seq, new.text); END",
    "CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.seq, old.text); END",
    "CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, text) VALUES ('delete', old.seq, old.text); "
    "INSERT INTO search_fts(rowid, text) VALUES (new.seq, new.text); END",
    "INSERT INTO search_fts(search_fts) VALUES ('rebuild')",
]
OLD_TRGM = [
    "CREATE INDEX ix_search_entries_text_trgm ON search_entries USING gin (text gin_trgm_ops)"
]


def upgrade() -> None:
    made: dict[str, sa.Table] = {}
    made["automakers_versions"] = op.create_table(
        "automakers_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_local", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("website", sa.String(length=2000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_automakers_versions")),
    )
    op.create_index("ix_automakers_versions_country", "automakers_versions", ["country"])
    op.create_index(
        "ix_automakers_versions_created_at_id", "automakers_versions", ["created_at", "id"]
    )
    op.create_index("ix_automakers_versions_id_valid_to", "automakers_versions", ["id", "valid_to"])
    op.create_index("ix_automakers_versions_name", "automakers_versions", ["name"])
    op.create_index("ix_automakers_versions_parent_id", "automakers_versions", ["parent_id"])
    op.create_index(
        "ix_automakers_versions_updated_at_id", "automakers_versions", ["updated_at", "id"]
    )

    made["batteries_versions"] = op.create_table(
        "batteries_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("battery_partner_id", sa.Uuid(), nullable=False),
        sa.Column("technology", sa.String(length=15), nullable=False),
        sa.Column("cathode", sa.String(length=200), nullable=True),
        sa.Column("anode", sa.String(length=200), nullable=True),
        sa.Column("electrolyte", sa.String(length=200), nullable=True),
        sa.Column("cell_format", sa.String(length=11), nullable=True),
        sa.Column("pack_capacity_kwh", sa.Float(precision=53), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_batteries_versions")),
    )
    op.create_index(
        "ix_batteries_versions_battery_partner_id", "batteries_versions", ["battery_partner_id"]
    )
    op.create_index("ix_batteries_versions_cell_format", "batteries_versions", ["cell_format"])
    op.create_index(
        "ix_batteries_versions_created_at_id", "batteries_versions", ["created_at", "id"]
    )
    op.create_index("ix_batteries_versions_id_valid_to", "batteries_versions", ["id", "valid_to"])
    op.create_index("ix_batteries_versions_name", "batteries_versions", ["name"])
    op.create_index(
        "ix_batteries_versions_pack_capacity_kwh", "batteries_versions", ["pack_capacity_kwh"]
    )
    op.create_index(
        "ix_batteries_versions_pack_capacity_kwh_id",
        "batteries_versions",
        ["pack_capacity_kwh", "id"],
    )
    op.create_index("ix_batteries_versions_technology", "batteries_versions", ["technology"])
    op.create_index(
        "ix_batteries_versions_updated_at_id", "batteries_versions", ["updated_at", "id"]
    )

    made["battery_partners_versions"] = op.create_table(
        "battery_partners_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_local", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("website", sa.String(length=2000), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner_automaker_id", sa.Uuid(), nullable=True),
        sa.Column("founded_year", sa.Integer(), nullable=True),
        sa.Column("headquarters", sa.String(length=200), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_battery_partners_versions")),
    )
    op.create_index(
        "ix_battery_partners_versions_country", "battery_partners_versions", ["country"]
    )
    op.create_index(
        "ix_battery_partners_versions_created_at_id",
        "battery_partners_versions",
        ["created_at", "id"],
    )
    op.create_index(
        "ix_battery_partners_versions_founded_year", "battery_partners_versions", ["founded_year"]
    )
    op.create_index(
        "ix_battery_partners_versions_founded_year_id",
        "battery_partners_versions",
        ["founded_year", "id"],
    )
    op.create_index(
        "ix_battery_partners_versions_id_valid_to", "battery_partners_versions", ["id", "valid_to"]
    )
    op.create_index("ix_battery_partners_versions_name", "battery_partners_versions", ["name"])
    op.create_index(
        "ix_battery_partners_versions_owner_automaker_id",
        "battery_partners_versions",
        ["owner_automaker_id"],
    )
    op.create_index(
        "ix_battery_partners_versions_updated_at_id",
        "battery_partners_versions",
        ["updated_at", "id"],
    )

    made["energy_densities_versions"] = op.create_table(
        "energy_densities_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("battery_partner_id", sa.Uuid(), nullable=False),
        sa.Column("battery_id", sa.Uuid(), nullable=True),
        sa.Column("partnership_id", sa.Uuid(), nullable=True),
        sa.Column("value_min", sa.Float(precision=53), nullable=False),
        sa.Column("value_max", sa.Float(precision=53), nullable=True),
        sa.Column("unit", sa.String(length=5), nullable=False),
        sa.Column("level", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_energy_densities_versions")),
    )
    op.create_index("ix_energy_densities_versions_as_of", "energy_densities_versions", ["as_of"])
    op.create_index(
        "ix_energy_densities_versions_as_of_id", "energy_densities_versions", ["as_of", "id"]
    )
    op.create_index(
        "ix_energy_densities_versions_battery_id", "energy_densities_versions", ["battery_id"]
    )
    op.create_index(
        "ix_energy_densities_versions_battery_partner_id",
        "energy_densities_versions",
        ["battery_partner_id"],
    )
    op.create_index(
        "ix_energy_densities_versions_created_at_id",
        "energy_densities_versions",
        ["created_at", "id"],
    )
    op.create_index(
        "ix_energy_densities_versions_id_valid_to", "energy_densities_versions", ["id", "valid_to"]
    )
    op.create_index("ix_energy_densities_versions_level", "energy_densities_versions", ["level"])
    op.create_index(
        "ix_energy_densities_versions_partnership_id",
        "energy_densities_versions",
        ["partnership_id"],
    )
    op.create_index(
        "ix_energy_densities_versions_source_id", "energy_densities_versions", ["source_id"]
    )
    op.create_index("ix_energy_densities_versions_status", "energy_densities_versions", ["status"])
    op.create_index("ix_energy_densities_versions_unit", "energy_densities_versions", ["unit"])
    op.create_index(
        "ix_energy_densities_versions_updated_at_id",
        "energy_densities_versions",
        ["updated_at", "id"],
    )
    op.create_index(
        "ix_energy_densities_versions_value_max", "energy_densities_versions", ["value_max"]
    )
    op.create_index(
        "ix_energy_densities_versions_value_max_id",
        "energy_densities_versions",
        ["value_max", "id"],
    )
    op.create_index(
        "ix_energy_densities_versions_value_min", "energy_densities_versions", ["value_min"]
    )
    op.create_index(
        "ix_energy_densities_versions_value_min_id",
        "energy_densities_versions",
        ["value_min", "id"],
    )

    made["milestones_versions"] = op.create_table(
        "milestones_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=True),
        sa.Column("battery_id", sa.Uuid(), nullable=True),
        sa.Column("battery_partner_id", sa.Uuid(), nullable=True),
        sa.Column("automaker_id", sa.Uuid(), nullable=True),
        sa.Column("stage", sa.String(length=19), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("date_precision", sa.String(length=7), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_milestones_versions")),
    )
    op.create_index("ix_milestones_versions_automaker_id", "milestones_versions", ["automaker_id"])
    op.create_index("ix_milestones_versions_battery_id", "milestones_versions", ["battery_id"])
    op.create_index(
        "ix_milestones_versions_battery_partner_id", "milestones_versions", ["battery_partner_id"]
    )
    op.create_index(
        "ix_milestones_versions_created_at_id", "milestones_versions", ["created_at", "id"]
    )
    op.create_index("ix_milestones_versions_date", "milestones_versions", ["date"])
    op.create_index("ix_milestones_versions_date_id", "milestones_versions", ["date", "id"])
    op.create_index(
        "ix_milestones_versions_date_precision", "milestones_versions", ["date_precision"]
    )
    op.create_index("ix_milestones_versions_id_valid_to", "milestones_versions", ["id", "valid_to"])
    op.create_index(
        "ix_milestones_versions_partnership_id", "milestones_versions", ["partnership_id"]
    )
    op.create_index("ix_milestones_versions_source_id", "milestones_versions", ["source_id"])
    op.create_index("ix_milestones_versions_stage", "milestones_versions", ["stage"])
    op.create_index("ix_milestones_versions_status", "milestones_versions", ["status"])
    op.create_index("ix_milestones_versions_title", "milestones_versions", ["title"])
    op.create_index(
        "ix_milestones_versions_updated_at_id", "milestones_versions", ["updated_at", "id"]
    )

    made["partnerships_versions"] = op.create_table(
        "partnerships_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("automaker_id", sa.Uuid(), nullable=False),
        sa.Column("battery_partner_id", sa.Uuid(), nullable=False),
        sa.Column("battery_id", sa.Uuid(), nullable=True),
        sa.Column("vehicle_models", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=11), nullable=False),
        sa.Column("stage", sa.String(length=19), nullable=True),
        sa.Column("commercialization_status", sa.Text(), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_partnerships_versions")),
    )
    op.create_index(
        "ix_partnerships_versions_automaker_id", "partnerships_versions", ["automaker_id"]
    )
    op.create_index("ix_partnerships_versions_battery_id", "partnerships_versions", ["battery_id"])
    op.create_index(
        "ix_partnerships_versions_battery_partner_id",
        "partnerships_versions",
        ["battery_partner_id"],
    )
    op.create_index(
        "ix_partnerships_versions_created_at_id", "partnerships_versions", ["created_at", "id"]
    )
    op.create_index(
        "ix_partnerships_versions_id_valid_to", "partnerships_versions", ["id", "valid_to"]
    )
    op.create_index("ix_partnerships_versions_source_id", "partnerships_versions", ["source_id"])
    op.create_index("ix_partnerships_versions_stage", "partnerships_versions", ["stage"])
    op.create_index("ix_partnerships_versions_started_on", "partnerships_versions", ["started_on"])
    op.create_index(
        "ix_partnerships_versions_started_on_id", "partnerships_versions", ["started_on", "id"]
    )
    op.create_index("ix_partnerships_versions_status", "partnerships_versions", ["status"])
    op.create_index(
        "ix_partnerships_versions_updated_at_id", "partnerships_versions", ["updated_at", "id"]
    )

    made["search_entry_versions"] = op.create_table(
        "search_entry_versions",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("collection", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=403), nullable=False),
        sa.Column("label_norm", sa.String(length=403), nullable=False),
        sa.Column("local_norm", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_search_entry_versions")),
    )
    op.create_index(
        "uq_search_entry_versions_current",
        "search_entry_versions",
        ["collection", "record_id"],
        unique=True,
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    )

    made["sources_versions"] = op.create_table(
        "sources_versions",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(length=13), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sources_versions")),
    )
    op.create_index("ix_sources_versions_created_at_id", "sources_versions", ["created_at", "id"])
    op.create_index("ix_sources_versions_id_valid_to", "sources_versions", ["id", "valid_to"])
    op.create_index("ix_sources_versions_kind", "sources_versions", ["kind"])
    op.create_index("ix_sources_versions_published_on", "sources_versions", ["published_on"])
    op.create_index(
        "ix_sources_versions_published_on_id", "sources_versions", ["published_on", "id"]
    )
    op.create_index("ix_sources_versions_title", "sources_versions", ["title"])
    op.create_index("ix_sources_versions_updated_at_id", "sources_versions", ["updated_at", "id"])

    bind = op.get_bind()
    for path, table in COLLECTIONS.items():
        _backfill(bind, path, made[f"{table}_versions"])
    _move_entries(bind)


def _backfill(bind: sa.Connection, path: str, versions: sa.Table) -> None:
    """Every version of the collection's records, from its changes in seq order: each one
    open when written, closed by the record's next change."""
    changes = sa.table(
        "changes",
        *(sa.column(n) for n in ("seq", "collection", "record_id", "op", "changed_at", "record")),
    )
    query = (
        sa.select(changes.c.seq, changes.c.record_id, changes.c.op, changes.c.changed_at,
                  sa.cast(changes.c.record, sa.Text))
        .where(changes.c.collection == path)
        .order_by(changes.c.seq)
    )  # fmt: skip
    rows = bind.execute(query.execution_options(stream_results=True, yield_per=5000))
    close = (
        sa.update(versions)
        .where(versions.c.id == sa.bindparam("b_id"), versions.c.valid_to.is_(None))
        .values(valid_to=sa.bindparam("b_at"))
    )
    pending: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for seq, record_id, change, changed_at, record in rows:
        at = _time(bind, changed_at)
        if str(record_id) in seen:
            _flush(bind, versions, pending)
            bind.execute(close, [{"b_id": _uuid(record_id), "b_at": at}])
        seen.add(str(record_id))
        if change != "delete" and record is not None:
            pending.append(_row(bind, versions, seq, record, at))
        if len(pending) >= 1000:
            _flush(bind, versions, pending)
    _flush(bind, versions, pending)


def _flush(bind: sa.Connection, versions: sa.Table, pending: list[dict[str, Any]]) -> None:
    if pending:
        bind.execute(sa.insert(versions), pending)
        pending.clear()


def _row(bind: sa.Connection, versions: sa.Table, seq: int, record: str, at: Any) -> dict[str, Any]:
    values = json.loads(record)
    row: dict[str, Any] = {"seq": seq, "valid_from": at, "valid_to": None}
    for column in versions.columns:
        if column.name in row:
            continue
        row[column.name] = _value(bind, column.type, values.get(column.name))
    return row


def _value(bind: sa.Connection, kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(kind, sa.Uuid):
        return _uuid(value)
    if isinstance(kind, sa.DateTime):
        return _time(bind, dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, sa.Float):
        return float(value)
    return value


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _time(bind: sa.Connection, value: Any) -> Any:
    """As the app stores times: naive UTC text on SQLite, aware on Postgres."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None) if bind.dialect.name == "sqlite" else value


def _move_entries(bind: sa.Connection) -> None:
    """The current entries into the versions table, valid from their record's last change."""
    since = (
        "(SELECT MAX(c.changed_at) FROM changes c "
        "WHERE c.collection = e.collection AND c.record_id = e.record_id)"
    )
    op.execute(
        f"INSERT INTO search_entry_versions ({ENTRY}, valid_from, valid_to) "
        f"SELECT {ENTRY}, COALESCE({since}, CURRENT_TIMESTAMP), NULL FROM search_entries e"
    )
    _past_the_moved(bind, "search_entry_versions")
    if bind.dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER search_entries_{trigger}")
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_entries")  # Postgres: its trigram index with it
    for statement in FTS if bind.dialect.name == "sqlite" else TRGM:
        op.execute(statement)
    op.execute(VIEW)


def _past_the_moved(bind: sa.Connection, table: str) -> None:
    """Rows moved with their own `seq`: Postgres' sequence must start after them, or the
    next entry written takes a taken seq. (SQLite counts from the largest rowid.)"""
    if bind.dialect.name == "postgresql":
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'seq'), "
            f"COALESCE((SELECT MAX(seq) FROM {table}), 0) + 1, false)"
        )


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DROP VIEW search_entries")
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")  # its triggers go with search_entry_versions
    op.create_table(
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
    op.execute(
        f"INSERT INTO search_entries ({ENTRY}) "
        f"SELECT {ENTRY} FROM search_entry_versions WHERE valid_to IS NULL"
    )
    _past_the_moved(bind, "search_entries")
    for statement in OLD_FTS if bind.dialect.name == "sqlite" else OLD_TRGM:
        op.execute(statement)
    op.drop_table("search_entry_versions")
    for table in COLLECTIONS.values():
        op.drop_table(f"{table}_versions")
