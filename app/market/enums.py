"""The closed vocabularies of API.md §2, lower-case values."""

from enum import StrEnum


class Technology(StrEnum):
    liquid = "liquid"
    semi_solid = "semi_solid"
    all_solid_state = "all_solid_state"


class CellFormat(StrEnum):
    pouch = "pouch"
    prismatic = "prismatic"
    cylindrical = "cylindrical"
    blade = "blade"
    other = "other"


class Unit(StrEnum):
    wh_per_kg = "Wh/kg"
    wh_per_l = "Wh/L"


class Level(StrEnum):
    cell = "cell"
    module = "module"
    pack = "pack"


class DensityStatus(StrEnum):
    claimed = "claimed"
    targeted = "targeted"
    measured = "measured"
    certified = "certified"


class PartnershipStatus(StrEnum):
    announced = "announced"
    development = "development"
    active = "active"
    ended = "ended"


class Stage(StrEnum):
    announced = "announced"
    prototype = "prototype"
    sample = "sample"
    pilot_production = "pilot_production"
    start_of_production = "start_of_production"
    mass_production = "mass_production"
    vehicle_launch = "vehicle_launch"
    fleet_deployment = "fleet_deployment"


class MilestoneStatus(StrEnum):
    planned = "planned"
    achieved = "achieved"
    delayed = "delayed"
    cancelled = "cancelled"


class DatePrecision(StrEnum):
    day = "day"
    month = "month"
    quarter = "quarter"
    year = "year"


class SourceKind(StrEnum):
    article = "article"
    press_release = "press_release"
    conference = "conference"
    filing = "filing"
    report = "report"
    other = "other"
