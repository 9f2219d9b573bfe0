"""Partnerships and milestones: who works with whom, and how far each programme has got."""

import datetime as dt
from typing import Self
from uuid import UUID

from pydantic import model_validator
from sqlalchemy import JSON, CheckConstraint, ColumnElement, Date, Index, String, or_, select
from sqlmodel import Field, SQLModel, col

from app.columns import NAME_MAX, unique_where
from app.market.companies import Automaker, BatteryPartner, automaker_or_group
from app.market.enums import DatePrecision, MilestoneStatus, PartnershipStatus, Stage
from app.market.products import Battery, battery_technology
from app.resources.fields import (
    LongText,
    Name,
    SlugRef,
    VehicleModel,
    enum_field,
    ref_field,
    rule_error,
    text_field,
)
from app.resources.filters import any_of, through
from app.resources.records import Record, family, table_args
from app.resources.spec import Filter, ResourceSpec, TextIndex


class PartnershipFields(SQLModel):
    automaker_id: SlugRef = ref_field("automakers", required=True, description="Id or slug.")
    battery_partner_id: SlugRef = ref_field(
        "battery_partners", required=True, description="Id or slug."
    )
    battery_id: SlugRef | None = ref_field("batteries", description="Id or slug, if known.")
    vehicle_models: list[VehicleModel] = Field(
        default_factory=list, sa_type=JSON, max_length=500, description="May be empty."
    )
    status: PartnershipStatus = enum_field(PartnershipStatus, index=True)
    stage: Stage | None = enum_field(
        Stage, nullable=True, index=True, description="The furthest milestone stage reached."
    )
    commercialization_status: LongText | None = text_field(
        description="Free text, as analysts write it."
    )
    started_on: dt.date | None = Field(default=None, sa_type=Date, index=True)
    source_id: SlugRef | None = ref_field("sources", description="Id or slug.")
    description: LongText | None = text_field()


class Partnership(PartnershipFields, Record, table=True):
    __tablename__ = "partnerships"
    __table_args__ = (
        *table_args("partnerships", PartnershipFields),
        Index(
            "uq_partnerships_automaker_id_battery_partner_id_battery_id",
            "automaker_id",
            "battery_partner_id",
            "battery_id",
            unique=True,
        ),
        # NULLs are distinct in a unique index; the same pair with no battery
        # is still the same partnership (API.md §9), so index that case apart.
        unique_where(
            "uq_partnerships_automaker_id_battery_partner_id_no_battery",
            "automaker_id",
            "battery_partner_id",
            where="battery_id IS NULL",
        ),
    )


SUBJECTS = ("partnership_id", "battery_id", "battery_partner_id", "automaker_id")


class MilestoneFields(SQLModel):
    partnership_id: UUID | None = ref_field("partnerships", description="Subject: a partnership.")
    battery_id: SlugRef | None = ref_field("batteries", description="Subject: a battery.")
    battery_partner_id: SlugRef | None = ref_field(
        "battery_partners", description="Subject: a battery maker."
    )
    automaker_id: SlugRef | None = ref_field("automakers", description="Subject: an automaker.")
    stage: Stage = enum_field(Stage, index=True)
    status: MilestoneStatus = enum_field(MilestoneStatus, index=True)
    date: dt.date = Field(sa_type=Date, index=True, description="Planned or achieved date.")
    date_precision: DatePrecision = enum_field(
        DatePrecision,
        index=True,
        description="How much of `date` is known: 2030 is year precision.",
    )
    title: Name = Field(sa_type=String(NAME_MAX), index=True)
    description: LongText | None = text_field()
    source_id: SlugRef | None = ref_field("sources", description="Id or slug.")

    @model_validator(mode="after")
    def _one_subject(self) -> Self:
        given = [name for name in SUBJECTS if getattr(self, name) is not None]
        if len(given) != 1:
            raise rule_error(
                given[1] if given else SUBJECTS[0],
                f"exactly one subject of {', '.join(SUBJECTS)} must be set (got {len(given)})",
            )
        return self


class Milestone(MilestoneFields, Record, table=True):
    __tablename__ = "milestones"
    __table_args__ = (
        *table_args("milestones", MilestoneFields),
        CheckConstraint(
            " + ".join(f"(CASE WHEN {name} IS NULL THEN 0 ELSE 1 END)" for name in SUBJECTS)
            + " = 1",
            name="one_subject",
        ),
    )


PARTNERSHIPS = ResourceSpec(
    table=Partnership,
    singular="partnership",
    description="Who works with whom: an automaker, a battery maker and optionally a battery, "
    "with the programme's status.",
    text=TextIndex(
        ("description", "commercialization_status", "vehicle_models"),
        names=("automaker_id", "battery_partner_id"),
    ),
    joins=(
        through(
            Partnership.automaker_id,
            Automaker.id,
            any_of(
                "country", Automaker.country, str.upper, "Country of the automaker (ISO 3166-1)"
            ),
        ),
        battery_technology(Partnership.battery_id),
    ),
    models=family(
        "Partnership",
        PartnershipFields,
        example={
            "automaker_id": "nio",
            "battery_partner_id": "welion",
            "vehicle_models": ["ET7", "ES6"],
            "status": "active",
            "stage": "mass_production",
            "commercialization_status": "Mass-produced; integrated in the battery-swap network.",
            "source_id": "china-semi-solid-pivot-report",
        },
        patch_example={"stage": "fleet_deployment", "vehicle_models": ["ET7", "ET5", "ES6"]},
    ),
)


def _milestone_automaker() -> Filter:
    makers = automaker_or_group("automaker")

    def clause(raw: str) -> ColumnElement[bool]:
        ids = makers(raw)
        partners = select(col(BatteryPartner.id)).where(
            col(BatteryPartner.owner_automaker_id).in_(ids)
        )
        return or_(
            col(Milestone.automaker_id).in_(ids),
            col(Milestone.partnership_id).in_(
                select(col(Partnership.id)).where(col(Partnership.automaker_id).in_(ids))
            ),
            col(Milestone.battery_partner_id).in_(partners),
            col(Milestone.battery_id).in_(
                select(col(Battery.id)).where(col(Battery.battery_partner_id).in_(partners))
            ),
        )

    return Filter(
        "automaker",
        str,
        "Milestones of this automaker (id or slug; a group includes its brands), directly, "
        "through its partnerships, or through its in-house battery maker and its batteries. "
        "Comma-separated for any of.",
        clause,
    )


MILESTONES = ResourceSpec(
    table=Milestone,
    singular="milestone",
    description="Steps on the road from announcement to fleet deployment, for exactly one subject.",
    text=TextIndex(("title", "description"), label="title"),
    joins=(_milestone_automaker(),),
    models=family(
        "Milestone",
        MilestoneFields,
        example={
            "automaker_id": "deepal",
            "stage": "mass_production",
            "status": "planned",
            "date": "2030-01-01",
            "date_precision": "year",
            "title": "All-solid-state batteries in mass-market cars, not before 2030",
            "source_id": "china-semi-solid-pivot-report",
        },
        patch_example={"status": "delayed"},
    ),
)
