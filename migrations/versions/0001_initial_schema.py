"""initial schema: the seven collections

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:53:57.662962
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automakers",
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
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_automakers_parent_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["automakers.id"], name=op.f("fk_automakers_parent_id_automakers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automakers")),
        sa.UniqueConstraint("slug", name=op.f("uq_automakers_slug")),
    )
    with op.batch_alter_table("automakers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_automakers_country"), ["country"], unique=False)
        batch_op.create_index("ix_automakers_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_automakers_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_automakers_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "sources",
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
        sa.CheckConstraint(
            "kind IN ('article', 'press_release', 'conference', 'filing', 'report', 'other')",
            name=op.f("ck_sources_kind_enum"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("slug", name=op.f("uq_sources_slug")),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index("ix_sources_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sources_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_sources_published_on"), ["published_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_sources_title"), ["title"], unique=False)

    op.create_table(
        "battery_partners",
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
        sa.CheckConstraint(
            "founded_year IS NULL OR founded_year BETWEEN 1800 AND 2100",
            name=op.f("ck_battery_partners_founded_year"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_automaker_id"],
            ["automakers.id"],
            name=op.f("fk_battery_partners_owner_automaker_id_automakers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_battery_partners")),
        sa.UniqueConstraint("slug", name=op.f("uq_battery_partners_slug")),
    )
    with op.batch_alter_table("battery_partners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_battery_partners_country"), ["country"], unique=False)
        batch_op.create_index(
            "ix_battery_partners_created_at_id", ["created_at", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_battery_partners_founded_year"), ["founded_year"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_battery_partners_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_battery_partners_owner_automaker_id"),
            ["owner_automaker_id"],
            unique=False,
        )

    op.create_table(
        "batteries",
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
        sa.CheckConstraint(
            "cell_format IN ('pouch', 'prismatic', 'cylindrical', 'blade', 'other')",
            name=op.f("ck_batteries_cell_format_enum"),
        ),
        sa.CheckConstraint(
            "technology IN ('liquid', 'semi_solid', 'all_solid_state')",
            name=op.f("ck_batteries_technology_enum"),
        ),
        sa.CheckConstraint(
            "pack_capacity_kwh IS NULL OR (pack_capacity_kwh > 0 AND pack_capacity_kwh <= 10000)",
            name=op.f("ck_batteries_pack_capacity_kwh"),
        ),
        sa.ForeignKeyConstraint(
            ["battery_partner_id"],
            ["battery_partners.id"],
            name=op.f("fk_batteries_battery_partner_id_battery_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batteries")),
        sa.UniqueConstraint("slug", name=op.f("uq_batteries_slug")),
    )
    with op.batch_alter_table("batteries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_batteries_battery_partner_id"), ["battery_partner_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_batteries_cell_format"), ["cell_format"], unique=False)
        batch_op.create_index("ix_batteries_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batteries_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_batteries_pack_capacity_kwh"), ["pack_capacity_kwh"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_batteries_technology"), ["technology"], unique=False)

    op.create_table(
        "partnerships",
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
        sa.CheckConstraint(
            "stage IN ('announced', 'prototype', 'sample', 'pilot_production', 'start_of_production', 'mass_production', 'vehicle_launch', 'fleet_deployment')",
            name=op.f("ck_partnerships_stage_enum"),
        ),
        sa.CheckConstraint(
            "status IN ('announced', 'development', 'active', 'ended')",
            name=op.f("ck_partnerships_status_enum"),
        ),
        sa.ForeignKeyConstraint(
            ["automaker_id"],
            ["automakers.id"],
            name=op.f("fk_partnerships_automaker_id_automakers"),
        ),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.id"], name=op.f("fk_partnerships_battery_id_batteries")
        ),
        sa.ForeignKeyConstraint(
            ["battery_partner_id"],
            ["battery_partners.id"],
            name=op.f("fk_partnerships_battery_partner_id_battery_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_partnerships_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partnerships")),
    )
    with op.batch_alter_table("partnerships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partnerships_automaker_id"), ["automaker_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partnerships_battery_id"), ["battery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partnerships_battery_partner_id"), ["battery_partner_id"], unique=False
        )
        batch_op.create_index("ix_partnerships_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_partnerships_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_partnerships_stage"), ["stage"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_partnerships_started_on"), ["started_on"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_partnerships_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_partnerships_automaker_id_battery_partner_id_battery_id",
            ["automaker_id", "battery_partner_id", "battery_id"],
            unique=True,
        )
        batch_op.create_index(
            "uq_partnerships_automaker_id_battery_partner_id_no_battery",
            ["automaker_id", "battery_partner_id"],
            unique=True,
            sqlite_where=sa.text("battery_id IS NULL"),
            postgresql_where=sa.text("battery_id IS NULL"),
        )

    op.create_table(
        "energy_densities",
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
        sa.CheckConstraint(
            "(unit = 'Wh/kg' AND value_min <= 2000 AND (value_max IS NULL OR value_max <= 2000)) OR (unit = 'Wh/L' AND value_min <= 3000 AND (value_max IS NULL OR value_max <= 3000))",
            name=op.f("ck_energy_densities_value_bounds"),
        ),
        sa.CheckConstraint(
            "level IN ('cell', 'module', 'pack')", name=op.f("ck_energy_densities_level_enum")
        ),
        sa.CheckConstraint(
            "status IN ('claimed', 'targeted', 'measured', 'certified')",
            name=op.f("ck_energy_densities_status_enum"),
        ),
        sa.CheckConstraint("unit IN ('Wh/kg', 'Wh/L')", name=op.f("ck_energy_densities_unit_enum")),
        sa.CheckConstraint(
            "value_max IS NULL OR value_max >= value_min",
            name=op.f("ck_energy_densities_value_range"),
        ),
        sa.CheckConstraint("value_min > 0", name=op.f("ck_energy_densities_value_min_positive")),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.id"], name=op.f("fk_energy_densities_battery_id_batteries")
        ),
        sa.ForeignKeyConstraint(
            ["battery_partner_id"],
            ["battery_partners.id"],
            name=op.f("fk_energy_densities_battery_partner_id_battery_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("fk_energy_densities_partnership_id_partnerships"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_energy_densities_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_densities")),
    )
    with op.batch_alter_table("energy_densities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_energy_densities_as_of"), ["as_of"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_energy_densities_battery_id"), ["battery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_energy_densities_battery_partner_id"),
            ["battery_partner_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_energy_densities_created_at_id", ["created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_energy_densities_level"), ["level"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_energy_densities_partnership_id"), ["partnership_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_energy_densities_source_id"), ["source_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_energy_densities_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_energy_densities_unit"), ["unit"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_energy_densities_value_min"), ["value_min"], unique=False
        )

    op.create_table(
        "milestones",
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
        sa.CheckConstraint(
            "date_precision IN ('day', 'month', 'quarter', 'year')",
            name=op.f("ck_milestones_date_precision_enum"),
        ),
        sa.CheckConstraint(
            "stage IN ('announced', 'prototype', 'sample', 'pilot_production', 'start_of_production', 'mass_production', 'vehicle_launch', 'fleet_deployment')",
            name=op.f("ck_milestones_stage_enum"),
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'achieved', 'delayed', 'cancelled')",
            name=op.f("ck_milestones_status_enum"),
        ),
        sa.CheckConstraint(
            "(CASE WHEN partnership_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN battery_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN battery_partner_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN automaker_id IS NULL THEN 0 ELSE 1 END) = 1",
            name=op.f("ck_milestones_one_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["automaker_id"], ["automakers.id"], name=op.f("fk_milestones_automaker_id_automakers")
        ),
        sa.ForeignKeyConstraint(
            ["battery_id"], ["batteries.id"], name=op.f("fk_milestones_battery_id_batteries")
        ),
        sa.ForeignKeyConstraint(
            ["battery_partner_id"],
            ["battery_partners.id"],
            name=op.f("fk_milestones_battery_partner_id_battery_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("fk_milestones_partnership_id_partnerships"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_milestones_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestones")),
    )
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_milestones_automaker_id"), ["automaker_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_milestones_battery_id"), ["battery_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_milestones_battery_partner_id"), ["battery_partner_id"], unique=False
        )
        batch_op.create_index("ix_milestones_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_milestones_date"), ["date"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_milestones_partnership_id"), ["partnership_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_milestones_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_milestones_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_milestones_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_milestones_title"), ["title"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_milestones_title"))
        batch_op.drop_index(batch_op.f("ix_milestones_status"))
        batch_op.drop_index(batch_op.f("ix_milestones_stage"))
        batch_op.drop_index(batch_op.f("ix_milestones_source_id"))
        batch_op.drop_index(batch_op.f("ix_milestones_partnership_id"))
        batch_op.drop_index(batch_op.f("ix_milestones_date"))
        batch_op.drop_index("ix_milestones_created_at_id")
        batch_op.drop_index(batch_op.f("ix_milestones_battery_partner_id"))
        batch_op.drop_index(batch_op.f("ix_milestones_battery_id"))
        batch_op.drop_index(batch_op.f("ix_milestones_automaker_id"))

    op.drop_table("milestones")
    with op.batch_alter_table("energy_densities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_energy_densities_value_min"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_unit"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_status"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_source_id"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_partnership_id"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_level"))
        batch_op.drop_index("ix_energy_densities_created_at_id")
        batch_op.drop_index(batch_op.f("ix_energy_densities_battery_partner_id"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_battery_id"))
        batch_op.drop_index(batch_op.f("ix_energy_densities_as_of"))

    op.drop_table("energy_densities")
    with op.batch_alter_table("partnerships", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_partnerships_automaker_id_battery_partner_id_no_battery",
            sqlite_where=sa.text("battery_id IS NULL"),
            postgresql_where=sa.text("battery_id IS NULL"),
        )
        batch_op.drop_index("uq_partnerships_automaker_id_battery_partner_id_battery_id")
        batch_op.drop_index(batch_op.f("ix_partnerships_status"))
        batch_op.drop_index(batch_op.f("ix_partnerships_started_on"))
        batch_op.drop_index(batch_op.f("ix_partnerships_stage"))
        batch_op.drop_index(batch_op.f("ix_partnerships_source_id"))
        batch_op.drop_index("ix_partnerships_created_at_id")
        batch_op.drop_index(batch_op.f("ix_partnerships_battery_partner_id"))
        batch_op.drop_index(batch_op.f("ix_partnerships_battery_id"))
        batch_op.drop_index(batch_op.f("ix_partnerships_automaker_id"))

    op.drop_table("partnerships")
    with op.batch_alter_table("batteries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batteries_technology"))
        batch_op.drop_index(batch_op.f("ix_batteries_pack_capacity_kwh"))
        batch_op.drop_index(batch_op.f("ix_batteries_name"))
        batch_op.drop_index("ix_batteries_created_at_id")
        batch_op.drop_index(batch_op.f("ix_batteries_cell_format"))
        batch_op.drop_index(batch_op.f("ix_batteries_battery_partner_id"))

    op.drop_table("batteries")
    with op.batch_alter_table("battery_partners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_battery_partners_owner_automaker_id"))
        batch_op.drop_index(batch_op.f("ix_battery_partners_name"))
        batch_op.drop_index(batch_op.f("ix_battery_partners_founded_year"))
        batch_op.drop_index("ix_battery_partners_created_at_id")
        batch_op.drop_index(batch_op.f("ix_battery_partners_country"))

    op.drop_table("battery_partners")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_title"))
        batch_op.drop_index(batch_op.f("ix_sources_published_on"))
        batch_op.drop_index(batch_op.f("ix_sources_kind"))
        batch_op.drop_index("ix_sources_created_at_id")

    op.drop_table("sources")
    with op.batch_alter_table("automakers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automakers_parent_id"))
        batch_op.drop_index(batch_op.f("ix_automakers_name"))
        batch_op.drop_index("ix_automakers_created_at_id")
        batch_op.drop_index(batch_op.f("ix_automakers_country"))

    op.drop_table("automakers")
