"""The closed vocabularies of API.md §2: lower-case values, each its member's name."""

from enum import StrEnum

Technology = StrEnum("Technology", "liquid semi_solid all_solid_state")
CellFormat = StrEnum("CellFormat", "pouch prismatic cylindrical blade other")
Unit = StrEnum("Unit", [("wh_per_kg", "Wh/kg"), ("wh_per_l", "Wh/L")])
Level = StrEnum("Level", "cell module pack")
DensityStatus = StrEnum("DensityStatus", "claimed targeted measured certified")
PartnershipStatus = StrEnum("PartnershipStatus", "announced development active ended")
Stage = StrEnum(
    "Stage",
    "announced prototype sample pilot_production start_of_production mass_production "
    "vehicle_launch fleet_deployment",
)
MilestoneStatus = StrEnum("MilestoneStatus", "planned achieved delayed cancelled")
DatePrecision = StrEnum("DatePrecision", "day month quarter year")
SourceKind = StrEnum("SourceKind", "article press_release conference filing report other")
