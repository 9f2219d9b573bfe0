"""Automakers and battery partners: the companies on each side of a partnership."""

from sqlalchemy import CheckConstraint, String
from sqlmodel import Field, SQLModel

from app.market.base import Record, family, table_args
from app.market.types import (
    NAME_MAX,
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
from app.resources.spec import ResourceSpec


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
    path="automakers",
    table=Automaker,
    singular="automaker",
    description="Car makers and their brands. A brand points at its group with `parent_id` "
    "(IM Motors → SAIC).",
    label_field="name",
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
    path="battery-partners",
    table=BatteryPartner,
    singular="battery partner",
    description="Battery makers that supply automakers: WeLion, QingTao Energy, Ganfeng Li-Energy.",
    label_field="name",
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
