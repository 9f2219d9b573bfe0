"""The views' answers as models: what /docs and generated clients show, with examples from the
demo data (the routes build the answers themselves; these only describe them)."""

import datetime as dt
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.market.demo import demo_id
from app.market.enums import Level, Technology, Unit
from app.market.products import ENERGY_DENSITIES
from app.views.claims import GapBy
from app.views.stats import GroupBy

NIO_WELION = str(demo_id("partnerships", "nio"))
ROW_EXAMPLE: dict[str, Any] = {
    "automaker": "NIO",
    "battery_partner": "WeLion",
    "battery": "WeLion semi-solid-state battery",
    "technology": "semi_solid",
    "energy_density": "360 Wh/kg",
    "energy_density_min": 360,
    "energy_density_max": 360,
    "energy_density_status": "claimed",
    "energy_density_level": "cell",
    "commercialization_status": "Mass-produced; currently integrated in battery-swap network.",
    "stage": "mass_production",
    "vehicle_models": [],
    "sources": ["Chinese OEMs pivot to semi-solid-state batteries"],
    "partnership_id": NIO_WELION,
}
Value = str | float | list[str] | None  # what a landscape column holds


class LandscapeRow(BaseModel):
    """One partnership, as the seed article's table shows it."""

    model_config = ConfigDict(json_schema_extra={"examples": [ROW_EXAMPLE]})

    automaker: str = Field(description="`Group (Brand)` for a brand: `SAIC (IM Motors)`.")
    battery_partner: str
    battery: str | None = Field(description="The battery's name, if the partnership has one.")
    technology: Technology | None
    energy_density: str | None = Field(description="`360 Wh/kg`; `400+ Wh/kg (targeted)`.")
    energy_density_min: float | None
    energy_density_max: float | None
    energy_density_status: str | None
    energy_density_level: str | None
    commercialization_status: str | None
    stage: str | None
    vehicle_models: list[str]
    sources: list[str] = Field(description="Titles of the sources cited.")
    partnership_id: UUID


class FieldChange(BaseModel):
    field: str = Field(description="A landscape column.", examples=["energy_density"])
    from_: Value = Field(alias="from", examples=["360 Wh/kg"])
    to: Value = Field(examples=["380 Wh/kg"])


class ChangedRow(BaseModel):
    partnership_id: UUID
    automaker: str = Field(description="As at `to`.")
    battery_partner: str = Field(description="As at `to`.")
    changes: list[FieldChange] = Field(description="In the landscape's column order.")


class LandscapeDiff(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-03-01T23:59:59.999999Z",
                    "to": "2026-06-30T23:59:59.999999Z",
                    "added": [],
                    "removed": [],
                    "changed": [
                        {
                            "partnership_id": NIO_WELION,
                            "automaker": "NIO",
                            "battery_partner": "WeLion",
                            "changes": [
                                {"field": "energy_density", "from": "360 Wh/kg", "to": "380 Wh/kg"},
                                {"field": "stage", "from": "mass_production",
                                 "to": "fleet_deployment"},
                            ],
                        }
                    ],
                }
            ]
        }
    )  # fmt: skip

    from_: dt.datetime = Field(alias="from", description="The earlier instant compared.")
    to: dt.datetime = Field(description="The later instant compared.")
    added: list[LandscapeRow]
    removed: list[LandscapeRow]
    changed: list[ChangedRow]


class Gap(BaseModel):
    value: float = Field(description="Target minus the best measurement.", examples=[40])
    percent: float = Field(
        description="Of the target, rounded half away from zero to one decimal. A target near"
        " 0 (value_min need only be above it) gives a percent too large for a tenth to"
        " matter: above 1e24 it is not rounded, and beyond the largest double it is that"
        " double, with its sign.",
        examples=[10.0],
    )


EnergyDensity: Any = ENERGY_DENSITIES.models.public


class Claims(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"battery_id": str(demo_id("batteries", "qingtao-semi-solid")), "unit": "Wh/kg",
                 "level": "cell", "target": None, "best_claimed": None, "best_measured": None,
                 "gap": None, "timeline": []}
            ]
        }
    )  # fmt: skip

    battery_id: UUID
    unit: Unit
    level: Level
    target: EnergyDensity | None = Field(description="The newest targeted figure.")
    best_claimed: EnergyDensity | None = Field(description="The highest claimed figure.")
    best_measured: EnergyDensity | None = Field(description="The highest measured or certified.")
    gap: Gap | None = Field(description="Null unless there are a target and a measurement.")
    timeline: list[EnergyDensity] = Field(description="Oldest `as_of` first, undated last.")


class ClaimGapGroup(BaseModel):
    key: str = Field(description="The technology, or the battery partner's slug.")
    label: str = Field(description="The technology, or the battery partner's name.")
    batteries: int = Field(description="Batteries with both a target and a measurement.")
    mean_gap: float
    mean_percent: float
    max_gap: float


class ClaimGap(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"unit": "Wh/kg", "level": "cell", "group_by": "technology", "groups": [
                    {"key": "semi_solid", "label": "semi_solid", "batteries": 1, "mean_gap": 40,
                     "mean_percent": 10.0, "max_gap": 40}]}
            ]
        }
    )  # fmt: skip

    unit: Unit
    level: Level
    group_by: GapBy
    groups: list[ClaimGapGroup]


class LandscapePage(BaseModel):
    items: list[LandscapeRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class SearchHit(BaseModel):
    collection: str = Field(description="The collection's URL name: `battery-partners`.")
    id: UUID
    slug: str | None
    label: str = Field(description="The record's name or title (`NIO × WeLion` for a pair).")
    snippet: str = Field(description="Where `q` was found, cut to a few words around it.")
    score: float = Field(description="1 for an exact name, less for weaker matches.")


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class DensityGroup(BaseModel):
    key: str | int | None = Field(description="The group's key; a year is a number.")
    label: str | None = Field(description="The key as a reader knows it (a partner's name).")
    count: int
    min: float
    max: float
    mean: float
    median: float


class EnergyDensityStats(BaseModel):
    unit: Unit
    group_by: GroupBy
    groups: list[DensityGroup]
