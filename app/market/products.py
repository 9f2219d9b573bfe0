"""Batteries and their energy densities: what a cell or pack is, and what it reaches."""

import datetime as dt
from functools import lru_cache
from typing import Any, Self
from uuid import UUID

from pydantic import computed_field, model_validator
from sqlalchemy import CheckConstraint, Date, String
from sqlmodel import Field, SQLModel

from app.columns import NAME_MAX, index_where
from app.market.enums import CellFormat, DensityStatus, Level, Technology, Unit
from app.resources.fields import (
    LongText,
    Name,
    Number,
    Slug,
    SlugRef,
    enum_field,
    format_number,
    number_field,
    ref_field,
    rule_error,
    text_field,
)
from app.resources.filters import any_of, enum_parser, through
from app.resources.records import Record, family, table_args
from app.resources.spec import Filter, ResourceSpec, TextIndex

MAX_DENSITY = {Unit.wh_per_kg: 2000, Unit.wh_per_l: 3000}


class BatteryFields(SQLModel):
    slug: Slug = Field(sa_type=String(NAME_MAX), unique=True, description="URL name, unique.")
    name: Name = Field(sa_type=String(NAME_MAX), index=True)
    battery_partner_id: SlugRef = ref_field(
        "battery_partners", required=True, description="The maker: id or slug."
    )
    technology: Technology = enum_field(Technology, index=True)
    cathode: Name | None = text_field(NAME_MAX, description="Cathode chemistry: NCM811, LFP.")
    anode: Name | None = text_field(NAME_MAX)
    electrolyte: Name | None = text_field(NAME_MAX)
    cell_format: CellFormat | None = enum_field(CellFormat, nullable=True, index=True)
    pack_capacity_kwh: Number | None = number_field(gt=0, le=10_000, index=True)
    description: LongText | None = text_field()


class Battery(BatteryFields, Record, table=True):
    __tablename__ = "batteries"
    __table_args__ = table_args(
        "batteries",
        BatteryFields,
        CheckConstraint(
            "pack_capacity_kwh IS NULL OR (pack_capacity_kwh > 0 AND pack_capacity_kwh <= 10000)",
            name="pack_capacity_kwh",
        ),
    )


class EnergyDensityFields(SQLModel):
    battery_partner_id: SlugRef = ref_field(
        "battery_partners", required=True, description="Whose figure: id or slug."
    )
    battery_id: SlugRef | None = ref_field("batteries", description="The battery: id or slug.")
    partnership_id: UUID | None = ref_field("partnerships", description="The partnership (id).")
    value_min: Number = number_field(
        required=True, gt=0, le=3000, index=True, description="The figure, or a range's low end."
    )
    value_max: Number | None = number_field(
        required=True,
        le=3000,
        index=True,
        description="Required: equal to value_min for one figure, higher for a range "
        "(260–350), null for an open-ended claim (400+).",
    )
    unit: Unit = enum_field(Unit, index=True)
    level: Level = enum_field(Level, index=True)
    status: DensityStatus = enum_field(DensityStatus, index=True)
    as_of: dt.date | None = Field(default=None, sa_type=Date, index=True)
    source_id: SlugRef | None = ref_field("sources", description="The source: id or slug.")
    note: LongText | None = text_field()

    @model_validator(mode="after")
    def _value_rules(self) -> Self:
        limit = MAX_DENSITY[Unit(self.unit)]
        if self.value_min > limit:
            raise rule_error("value_min", f"must be at most {limit} for {self.unit}")
        if self.value_max is not None and not self.value_min <= self.value_max <= limit:
            raise rule_error(
                "value_max", f"must be between value_min and {limit} for {self.unit}, or null"
            )
        return self

    @computed_field(  # type: ignore[prop-decorator]
        description="Read-only: 360 Wh/kg, 260–350 Wh/kg, 400+ Wh/kg."
    )
    @property
    def display(self) -> str:
        return density_display(self.value_min, self.value_max, self.unit)


class EnergyDensity(EnergyDensityFields, Record, table=True):
    __tablename__ = "energy_densities"
    __table_args__ = (
        *table_args("energy_densities", EnergyDensityFields),
        # The landscape's lower tiers (API.md §9): a battery's own figures and a partner's
        # own, found without walking the figures of every partnership that references them.
        index_where(
            "ix_energy_densities_battery_own", "battery_id", where="partnership_id IS NULL"
        ),
        index_where(
            "ix_energy_densities_partner_own",
            "battery_partner_id",
            where="battery_id IS NULL AND partnership_id IS NULL",
        ),
        CheckConstraint("value_min > 0", name="value_min_positive"),
        CheckConstraint("value_max IS NULL OR value_max >= value_min", name="value_range"),
        CheckConstraint(
            " OR ".join(
                f"(unit = '{unit}' AND value_min <= {limit}"
                f" AND (value_max IS NULL OR value_max <= {limit}))"
                for unit, limit in MAX_DENSITY.items()
            ),
            name="value_bounds",
        ),
    )


@lru_cache(maxsize=4096)  # a page repeats the same few figures (360 Wh/kg); ~1 µs each to write
def density_display(value_min: float, value_max: float | None, unit: str) -> str:
    low = format_number(value_min)
    if value_max is None:
        return f"{low}+ {unit}"
    if value_max == value_min:
        return f"{low} {unit}"
    return f"{low}–{format_number(value_max)} {unit}"


def battery_technology(battery_id: Any) -> Filter:
    """`technology=`: the technology of the battery a record references (`battery_id`)."""
    technology = any_of(
        "technology",
        Battery.technology,
        enum_parser(Technology),
        "Technology of the record's battery: `liquid`, `semi_solid`, `all_solid_state`",
    )
    return through(battery_id, Battery.id, technology, broad=True)


BATTERIES = ResourceSpec(
    table=Battery,
    singular="battery",
    description="Cells and packs with their technology: liquid, semi-solid or all-solid-state.",
    text=TextIndex(
        ("name", "slug", "description", "cathode", "anode", "electrolyte"), label="name"
    ),
    models=family(
        "Battery",
        BatteryFields,
        example={
            "slug": "welion-semi-solid-360",
            "name": "WeLion 360 Wh/kg semi-solid-state cell",
            "battery_partner_id": "welion",
            "technology": "semi_solid",
            "cathode": "NCM",
            "cell_format": "pouch",
            "pack_capacity_kwh": 150,
        },
        patch_example={"pack_capacity_kwh": 150.5},
    ),
)
ENERGY_DENSITIES = ResourceSpec(
    table=EnergyDensity,
    singular="energy density",
    description="Energy density figures (claimed, targeted, measured, certified) of a maker, "
    "battery or partnership; `display` renders them as analysts write them.",
    text=TextIndex(("note",), label="display", names=("battery_partner_id",)),
    joins=(battery_technology(EnergyDensity.battery_id),),
    models=family(
        "EnergyDensity",
        EnergyDensityFields,
        example={
            "battery_partner_id": "ganfeng-li-energy",
            "value_min": 260,
            "value_max": 350,
            "unit": "Wh/kg",
            "level": "cell",
            "status": "claimed",
            "as_of": "2026-03-01",
            "source_id": "china-semi-solid-pivot-report",
        },
        patch_example={"status": "measured", "as_of": "2026-06-30"},
    ),
)
