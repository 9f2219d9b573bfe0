"""`GET /api/v1/stats/energy-density`: count, min, max, mean and median of `value_min` per
group, computed by the database with portable SQL, so SQLite and Postgres agree."""

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, cast, extract, func, literal, or_, select
from sqlmodel import Session, col

from app.market.companies import BatteryPartner
from app.market.enums import Unit
from app.market.products import Battery, EnergyDensity

DIGITS = 6  # plenty beyond the two decimals promised, and equal on both databases


class GroupBy(StrEnum):
    technology = "technology"
    battery_partner = "battery_partner"
    level = "level"
    year = "year"


def _key_and_label(group_by: GroupBy) -> tuple[Any, Any]:
    if group_by is GroupBy.technology:
        return col(Battery.technology), col(Battery.technology)
    if group_by is GroupBy.battery_partner:
        return col(BatteryPartner.slug), col(BatteryPartner.name)
    if group_by is GroupBy.level:
        return col(EnergyDensity.level), col(EnergyDensity.level)
    year = cast(extract("year", col(EnergyDensity.as_of)), Integer)
    return year, year


def energy_density_stats(
    session: Session, group_by: GroupBy, unit: Unit, where: Sequence[ColumnElement[bool]]
) -> list[dict[str, Any]]:
    key, label = _key_and_label(group_by)
    values = (
        select(
            key.label("key"),
            label.label("label"),
            cast(col(EnergyDensity.value_min), Float).label("v"),
        )
        .select_from(EnergyDensity)
        .outerjoin(Battery, col(Battery.id) == EnergyDensity.battery_id)
        .join(BatteryPartner, col(BatteryPartner.id) == EnergyDensity.battery_partner_id)
        .where(col(EnergyDensity.unit) == unit.value, *where)
        .subquery()
    )
    totals = select(
        values.c.key,
        func.max(values.c.label).label("label"),
        func.count().label("count"),
        func.min(values.c.v).label("min"),
        func.max(values.c.v).label("max"),
        func.avg(values.c.v).label("mean"),
    ).group_by(values.c.key)
    # The median without percentile_cont (SQLite has none): the middle one or two values.
    ranked = select(
        values.c.key,
        values.c.v,
        func.row_number().over(partition_by=values.c.key, order_by=values.c.v).label("rn"),
        func.count().over(partition_by=values.c.key).label("n"),
    ).subquery()
    middle = or_(
        ranked.c.rn == (ranked.c.n + literal(1)) // 2, ranked.c.rn == (ranked.c.n + 2) // 2
    )
    medians = {
        row.key: row.median
        for row in session.execute(
            select(ranked.c.key, func.avg(ranked.c.v).label("median"))
            .where(middle)
            .group_by(ranked.c.key)
        )
    }
    groups = [
        {
            "key": _key(row.key, group_by),
            "label": None if row.label is None else str(row.label),
            "count": row.count,
            "min": _round(row.min),
            "max": _round(row.max),
            "mean": _round(row.mean),
            "median": _round(medians[row.key]),
        }
        for row in session.execute(totals)
    ]
    return sorted(groups, key=lambda g: (g["key"] is None, g["key"] if g["key"] is not None else 0))


def _key(value: Any, group_by: GroupBy) -> Any:
    if value is None:
        return None
    return int(value) if group_by is GroupBy.year else str(value)


def _round(value: Any) -> float | int:
    number = round(float(value), DIGITS)
    return int(number) if number.is_integer() else number
