"""Energy-density statistics kept by the writes (app.market.tallies): each grouping's
histogram of `value_min` per group (`density_tallies`) and each group's figures
(`density_groups`), filled here from the figures already stored (issue 19: at a million
figures, unfiltered statistics scanned every one for every request).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def group() -> list[sa.Column[str]]:
    return [
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
    ]


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
GROUPS_FROM_TALLIES = """
INSERT INTO density_groups (dimension, unit, key, figures, min, max, mean, low, high)
SELECT dimension, unit, key, max(total), min(v), max(v), sum(v * n) / max(total),
       min(CASE WHEN 2 * run >= total THEN v END), min(CASE WHEN 2 * run > total THEN v END)
FROM (SELECT dimension, unit, key, value AS v, n,
             sum(n) OVER (PARTITION BY dimension, unit, key ORDER BY value) AS run,
             sum(n) OVER (PARTITION BY dimension, unit, key) AS total
      FROM density_tallies) AS r
GROUP BY dimension, unit, key
"""


def upgrade() -> None:
    op.create_table(
        "density_tallies",
        *group(),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dimension", "unit", "key", "value", name=op.f("pk_density_tallies")
        ),
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
        *group(),
        sa.Column("figures", sa.BigInteger(), nullable=False),
        *(
            sa.Column(name, sa.Float(precision=53), nullable=False)
            for name in ("min", "max", "mean", "low", "high")
        ),
        sa.PrimaryKeyConstraint("dimension", "unit", "key", name=op.f("pk_density_groups")),
    )
    keys = KEYS[op.get_bind().dialect.name]
    dimensions = {
        "level": "e.level",
        "battery_partner": keys["battery_partner"],
        "year": keys["year"],
        "technology": "coalesce(b.technology, '')",
    }
    for dimension, key in dimensions.items():
        op.execute(
            "INSERT INTO density_tallies (dimension, unit, key, value, n) "
            f"SELECT '{dimension}', e.unit, {key}, e.value_min, count(*) "
            "FROM energy_densities e LEFT JOIN batteries b ON b.id = e.battery_id "
            f"GROUP BY e.unit, {key}, e.value_min"
        )
    op.execute(GROUPS_FROM_TALLIES)


def downgrade() -> None:
    op.drop_table("density_groups")
    op.drop_index("ix_density_tallies_spent", table_name="density_tallies")
    op.drop_table("density_tallies")
