"""Energy-density statistics kept per status too (app.market.tallies): each grouping's
tallies and groups over every figure (`status` '') and over each status's figures, so that
`/stats/energy-density?status=measured` reads kept rows as the unfiltered statistics do
(issue 19: at a million figures it built the histogram of a quarter of them per request).
The tables hold nothing but what the figures give, so both are made again and refilled.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out again rather than imported from 0010: a migration stays as it ran.
# A group's key as app.market.tallies writes it: the partner's id as dashed text, the
# year as digits, '' for no value (SQLite stores UUIDs as 32 hex digits, dates as text).
KEYS = {
    "sqlite": {
        "battery_partner": "substr(e.battery_partner_id, 1, 8) || '-' || "
        "substr(e.battery_partner_id, 9, 4) || '-' || substr(e.battery_partner_id, 13, 4)"
        " || '-' || substr(e.battery_partner_id, 17, 4) || '-' || "
        "substr(e.battery_partner_id, 21)",
        "year": "coalesce(CAST(CAST(strftime('%Y', e.as_of) AS INTEGER) AS TEXT), '')",
    },
    "postgresql": {
        "battery_partner": "e.battery_partner_id::text",
        "year": "coalesce(extract(year FROM e.as_of)::int::text, '')",
    },
}


def upgrade() -> None:
    _make(by_status=True)


def downgrade() -> None:
    _make(by_status=False)


def _make(*, by_status: bool) -> None:
    """Both tables dropped and made again (with or without `status` in their keys), then
    filled from the figures: tallies by grouping, groups from the tallies."""
    op.drop_table("density_groups")
    op.drop_index("ix_density_tallies_spent", table_name="density_tallies")
    op.drop_table("density_tallies")
    group = ["dimension", *(["status"] if by_status else []), "unit", "key"]
    op.create_table(
        "density_tallies",
        *_group(by_status),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*group, "value", name=op.f("pk_density_tallies")),
    )
    op.create_index(
        "ix_density_tallies_spent",
        "density_tallies",
        ["n"],
        sqlite_where=sa.text("n <= 0"),
        postgresql_where=sa.text("n <= 0"),
    )
    op.create_table(
        "density_groups",
        *_group(by_status),
        sa.Column("figures", sa.BigInteger(), nullable=False),
        *(
            sa.Column(name, sa.Float(precision=53), nullable=False)
            for name in ("min", "max", "mean", "low", "high")
        ),
        sa.PrimaryKeyConstraint(*group, name=op.f("pk_density_groups")),
    )
    keys = KEYS[op.get_bind().dialect.name]
    dimensions = {
        "level": "e.level",
        "battery_partner": keys["battery_partner"],
        "year": keys["year"],
        "technology": "coalesce(b.technology, '')",
    }
    # Each figure counts over every status ('') and, with `by_status`, in its own status.
    statuses = ["''", "e.status"] if by_status else [None]
    for dimension, key in dimensions.items():
        for status in statuses:
            kept = "" if status is None else "status, "
            chosen = "" if status is None else f"{status}, "
            grouped = "e.status, " if status == "e.status" else ""
            op.execute(
                f"INSERT INTO density_tallies (dimension, {kept}unit, key, value, n) "
                f"SELECT '{dimension}', {chosen}e.unit, {key}, e.value_min, count(*) "
                "FROM energy_densities e LEFT JOIN batteries b ON b.id = e.battery_id "
                f"GROUP BY {grouped}e.unit, {key}, e.value_min"
            )
    keyed = ", ".join(group)
    op.execute(
        f"INSERT INTO density_groups ({keyed}, figures, min, max, mean, low, high) "
        f"SELECT {keyed}, max(total), min(v), max(v), sum(v * n) / max(total), "
        "min(CASE WHEN 2 * run >= total THEN v END), min(CASE WHEN 2 * run > total THEN v END) "
        f"FROM (SELECT {keyed}, value AS v, n, "
        f"sum(n) OVER (PARTITION BY {keyed} ORDER BY value) AS run, "
        f"sum(n) OVER (PARTITION BY {keyed}) AS total FROM density_tallies) AS r "
        f"GROUP BY {keyed}"
    )


def _group(by_status: bool) -> list[sa.Column[str]]:
    return [
        sa.Column("dimension", sa.String(length=16), nullable=False),
        *([sa.Column("status", sa.String(length=16), nullable=False)] if by_status else []),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
    ]
