"""`GET /api/v1/stats/energy-density`: count, min, max, mean and median of `value_min`
per group.

Over every current figure, or every current figure of one status (`status=measured`),
the groups are read as the writes keep them (app.market.tallies): a few thousand rows at
any size. With other filters, `q` or `known_at`,
the database first counts how many matching figures of each value each group has (a
histogram), then reads every figure off it, medians included, exactly: the window that
finds the middle values runs over the histogram's rows, not over a million figures
(portable SQL, so SQLite and Postgres agree; the kept groups are made by the same SQL).
"""

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, cast, extract, func, select
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, col

from app.market import tallies
from app.market.companies import BatteryPartner
from app.market.enums import Unit
from app.market.products import Battery, EnergyDensity
from app.resources.versions import is_past

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


def energy_density_stats(
    session: Session,
    group_by: GroupBy,
    unit: Unit,
    where: Sequence[ColumnElement[bool]],
    *,
    one_status: str | None = None,
) -> list[dict[str, Any]]:
    """The groups' figures: as kept by the writes (app.market.tallies) when every figure
    counts, or every figure of `one_status` (given when `where` says that alone), else
    computed from the matching figures' histogram."""
    if (not where or one_status is not None) and not is_past(session):
        return _kept(session, group_by, unit, one_status or tallies.EVERY)
    figures = tallies.figures(_histogram(group_by, unit, where)).subquery()
    query = select(figures)
    if group_by is GroupBy.battery_partner:  # joined to the groups only: a few thousand
        partner = BatteryPartner.__table__  # type: ignore[attr-defined]
        query = select(figures, partner.c.slug, partner.c.name).join(
            partner, partner.c.id == figures.c.key
        )
    return _ordered(
        [{**_key_and_label(group_by, row), **_numbers(row)} for row in session.execute(query)]
    )


def _kept(session: Session, group_by: GroupBy, unit: Unit, status: str) -> list[dict[str, Any]]:
    """The kept groups: a few thousand rows whatever the number of figures (partners
    joined to the groups for their slugs and names)."""
    kept = tallies.GROUPS
    query = select(kept).where(
        kept.c.dimension == group_by.value, kept.c.status == status, kept.c.unit == unit.value
    )
    if group_by is GroupBy.battery_partner:
        partner = BatteryPartner.__table__  # type: ignore[attr-defined]
        on = partner.c.id == tallies.partner_id(session, kept.c.key)
        query = query.add_columns(partner.c.slug, partner.c.name).join(partner, on)
    rows = session.execute(query)
    return _ordered([{**_key_and_label(group_by, row), **_numbers(row)} for row in rows])


def _numbers(row: Any) -> dict[str, Any]:
    return {
        "count": int(row.figures),
        "min": _round(row.min),
        "max": _round(row.max),
        "mean": _round(row.mean),
        "median": _round((float(row.low) + float(row.high)) / 2),
    }


def _ordered(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda g: (g["key"] is None, g["key"] if g["key"] is not None else 0))


def _key_and_label(group_by: GroupBy, row: Any) -> dict[str, Any]:
    """A group's key as the answer shows it, and its label: a partner's slug and name."""
    if group_by is GroupBy.battery_partner:
        return {"key": row.slug, "label": row.name}
    if row.key is None or row.key == tallies.NONE:
        return {"key": None, "label": None}
    key = int(row.key) if group_by is GroupBy.year else str(row.key)
    return {"key": key, "label": str(key)}


def _round(value: Any) -> float | int:
    number = float(value)
    if not number.is_integer():
        number = round(number, DIGITS)
    return int(number) if number.is_integer() else number
