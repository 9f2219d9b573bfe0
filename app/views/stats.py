"""`GET /api/v1/stats/energy-density`: count, min, max, mean and median of `value_min`
per group.

The database first counts how many figures of each value each group has (a histogram),
then reads every figure off it, medians included, exactly: the window that finds the
middle values runs over the histogram's rows, a few thousand where figures repeat, not
over a million figures (portable SQL, so SQLite and Postgres agree).
"""

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, case, cast, extract, func, select
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, col

from app.market.companies import BatteryPartner
from app.market.enums import Unit
from app.market.products import Battery, EnergyDensity

DIGITS = 6  # plenty beyond the two decimals promised, and equal on both databases
BATTERIES = Battery.__table__  # type: ignore[attr-defined]


class GroupBy(StrEnum):
    technology = "technology"
    battery_partner = "battery_partner"
    level = "level"
    year = "year"


def _key(group_by: GroupBy) -> Any:
    """What a figure is grouped by, as the histogram reads it: partners by id (their slug
    and name are looked up for the groups alone)."""
    if group_by is GroupBy.technology:
        return col(Battery.technology)
    if group_by is GroupBy.battery_partner:
        return col(EnergyDensity.battery_partner_id)
    if group_by is GroupBy.level:
        return col(EnergyDensity.level)
    return cast(extract("year", col(EnergyDensity.as_of)), Integer)


def _histogram(group_by: GroupBy, unit: Unit, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """(key, value, how many) for the figures that match; batteries joined only when the
    key or a filter needs them (the partner is a required reference: no join filters)."""
    key, value = _key(group_by).label("key"), cast(col(EnergyDensity.value_min), Float)
    query = select(key, value.label("v"), func.count().label("n")).select_from(EnergyDensity)
    needs_batteries = group_by is GroupBy.technology or any(
        BATTERIES in find_tables(clause, check_columns=True, include_joins=True) for clause in where
    )
    if needs_batteries:
        query = query.outerjoin(Battery, col(Battery.id) == EnergyDensity.battery_id)
    return query.where(col(EnergyDensity.unit) == unit.value, *where).group_by(key, value)


def _figures(histogram: Select[Any]) -> Select[Any]:
    """count, min, max, mean and the two middle values of each group, from its histogram:
    the middle values are the first whose running count reaches half the total (2 × run ≥
    total), and the first beyond it (2 × run > total); the same one when the count is odd."""
    h = histogram.subquery()
    run = select(
        h.c.key,
        h.c.v,
        h.c.n,
        func.sum(h.c.n).over(partition_by=h.c.key, order_by=h.c.v).label("run"),
        func.sum(h.c.n).over(partition_by=h.c.key).label("total"),
    ).subquery()
    total = func.max(run.c.total)
    return select(
        run.c.key,
        total.label("figures"),
        func.min(run.c.v).label("min"),
        func.max(run.c.v).label("max"),
        (func.sum(run.c.v * run.c.n) / total).label("mean"),
        func.min(case((2 * run.c.run >= run.c.total, run.c.v))).label("low"),
        func.min(case((2 * run.c.run > run.c.total, run.c.v))).label("high"),
    ).group_by(run.c.key)


def energy_density_stats(
    session: Session, group_by: GroupBy, unit: Unit, where: Sequence[ColumnElement[bool]]
) -> list[dict[str, Any]]:
    figures = _figures(_histogram(group_by, unit, where)).subquery()
    query = select(figures)
    if group_by is GroupBy.battery_partner:  # joined to the groups only: a few thousand
        partner = BatteryPartner.__table__  # type: ignore[attr-defined]
        query = select(figures, partner.c.slug, partner.c.name).join(
            partner, partner.c.id == figures.c.key
        )
    groups = [
        {
            **_key_and_label(group_by, row),
            "count": int(row.figures),
            "min": _round(row.min),
            "max": _round(row.max),
            "mean": _round(row.mean),
            "median": _round((float(row.low) + float(row.high)) / 2),
        }
        for row in session.execute(query)
    ]
    return sorted(groups, key=lambda g: (g["key"] is None, g["key"] if g["key"] is not None else 0))


def _key_and_label(group_by: GroupBy, row: Any) -> dict[str, Any]:
    """A group's key as the answer shows it, and its label: a partner's slug and name."""
    if group_by is GroupBy.battery_partner:
        return {"key": row.slug, "label": row.name}
    if row.key is None:
        return {"key": None, "label": None}
    key = int(row.key) if group_by is GroupBy.year else str(row.key)
    return {"key": key, "label": str(key)}


def _round(value: Any) -> float | int:
    number = round(float(value), DIGITS)
    return int(number) if number.is_integer() else number
