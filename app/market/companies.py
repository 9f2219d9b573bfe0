"""Automakers and battery partners: the companies on each side of a partnership."""

from typing import Any

from sqlalchemy import CheckConstraint, String, or_, select
from sqlmodel import Field, SQLModel, col

from app.columns import NAME_MAX
from app.resources.fields import (
    URL_MAX,
    Country,
    LongText,
    Name,
    Slug,
    SlugRef,
    WebUrl,
    ref_field,
    text_field,
)
from app.resources.filters import ref_any_of
from app.resources.records import Record, family, table_args
from app.resources.spec import ResourceSpec, TextIndex


class CompanyFields(SQLModel):
    slug: Slug = Field(sa_type=String(NAME_MAX), unique=True, description="URL name, unique.")
    name: Name = Field(sa_type=String(NAME_MAX), index=True, description="Name in English.")
    name_local: Name | None = text_field(NAME_MAX, description="Name in the local script: 蔚来.")
    country: Country = Field(sa_type=String(2), index=True, description="ISO 3166-1 alpha-2.")
    website: WebUrl | None = text_field(URL_MAX, description="An http(s) URL.")
    description: LongText | None = text_field()


class AutomakerFields(CompanyFields):
    parent_id: SlugRef | None = ref_field(
        "automakers", description="The group of this brand (IM Motors → SAIC): id or slug."
    )


class Automaker(AutomakerFields, Record, table=True):
    __tablename__ = "automakers"
    __table_args__ = (
        *table_args("automakers", AutomakerFields),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="parent_not_self"),
    )


class BatteryPartnerFields(CompanyFields):
    owner_automaker_id: SlugRef | None = ref_field(
        "automakers", description="Set for an automaker's in-house cell maker (FinDreams → BYD)."
    )
    founded_year: int | None = Field(default=None, ge=1800, le=2100, index=True)
    headquarters: Name | None = text_field(NAME_MAX, description="City or address.")


class BatteryPartner(BatteryPartnerFields, Record, table=True):
    __tablename__ = "battery_partners"
    __table_args__ = (
        *table_args("battery_partners", BatteryPartnerFields),
        CheckConstraint(
            "founded_year IS NULL OR founded_year BETWEEN 1800 AND 2100", name="founded_year"
        ),
    )


AUTOMAKERS = ResourceSpec(
    table=Automaker,
    singular="automaker",
    description="Car makers and their brands. A brand points at its group with `parent_id` "
    "(IM Motors → SAIC).",
    text=TextIndex(("name", "name_local", "slug", "description"), label="name", local="name_local"),
    models=family(
        "Automaker",
        AutomakerFields,
        example={
            "slug": "im-motors",
            "name": "IM Motors",
            "name_local": "智己汽车",
            "country": "CN",
            "parent_id": "saic",
            "website": "https://www.immotors.com",
            "description": "SAIC's premium EV brand.",
        },
        patch_example={"description": "SAIC's premium electric brand, launched 2021."},
    ),
)
BATTERY_PARTNERS = ResourceSpec(
    table=BatteryPartner,
    singular="battery partner",
    description="Battery makers that supply automakers: WeLion, QingTao Energy, Ganfeng Li-Energy.",
    text=TextIndex(
        ("name", "name_local", "slug", "description", "headquarters"),
        label="name",
        local="name_local",
    ),
    models=family(
        "BatteryPartner",
        BatteryPartnerFields,
        example={
            "slug": "welion",
            "name": "WeLion",
            "name_local": "卫蓝新能源",
            "country": "CN",
            "founded_year": 2016,
            "headquarters": "Beijing",
            "description": "Semi-solid-state cell maker supplying NIO.",
        },
        patch_example={"headquarters": "Beijing, China"},
    ),
)


def automaker_or_group(param: str) -> Any:
    """For a filter: the ids of the automakers named (id or slug, comma-separated) and, for a
    group (SAIC), of its brands (IM Motors), as a subquery."""
    named = ref_any_of(param, col(Automaker.id), AUTOMAKERS, "x")

    def ids(raw: str) -> Any:
        chosen = select(col(Automaker.id)).where(named.clause(raw))
        return select(col(Automaker.id)).where(
            or_(col(Automaker.id).in_(chosen), col(Automaker.parent_id).in_(chosen))
        )

    return ids
