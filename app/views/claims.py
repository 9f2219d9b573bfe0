"""A battery's claims against what was measured (API.md §10): its target, its best claim and
best measurement, the gap between target and measurement; and the gap by group."""

import sys
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select
from sqlmodel import col

from app.market.companies import BatteryPartner
from app.market.enums import DensityStatus
from app.market.products import ENERGY_DENSITIES, Battery, EnergyDensity
from app.resources.fields import json_number
from app.resources.rows import shape

DIGITS = 6  # figures are never rounded to fewer than two decimals (API.md §9); six agree
MEASURED = (DensityStatus.measured, DensityStatus.certified)
TENTH = Decimal("0.1")
# The contract bounds value_min only below by 0, so a target of 1e-300 Wh/kg is valid and
# its gap's percent is ~1e305: too many digits to round to a tenth in Decimal's default
# precision, and beyond a double's range from ~1e-306 on. A tenth is below a double's
# resolution long before that, so such a percent is left unrounded, and one beyond the
# largest double is given as the largest double of its sign (said in the OpenAPI).
QUANTIZABLE = 10**24
LARGEST = Decimal(repr(sys.float_info.max))


class GapBy(StrEnum):
    technology = "technology"
    battery_partner = "battery_partner"


def _newest(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["as_of"] is not None, record["as_of"] or 0, record["created_at"])


def _highest(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["value_min"], record["created_at"])


def _timeline(record: dict[str, Any]) -> tuple[Any, ...]:
    """Oldest `as_of` first, undated last; ties by oldest `created_at`."""
    return (record["as_of"] is None, record["as_of"] or 0, record["created_at"])


def claims(connection: Connection, battery_id: Any, unit: str, level: str) -> dict[str, Any]:
    """The battery's energy densities in `unit` and at `level`, judged."""
    rows = shape(ENERGY_DENSITIES)
    table = EnergyDensity
    query = select(*rows.columns).where(
        col(table.battery_id) == battery_id, col(table.unit) == unit, col(table.level) == level
    )
    records = rows.records(connection.execute(query))
    targets = [r for r in records if r["status"] == DensityStatus.targeted]
    claimed = [r for r in records if r["status"] == DensityStatus.claimed]
    measured = [r for r in records if r["status"] in MEASURED]
    target = max(targets, key=_newest, default=None)
    best_measured = max(measured, key=_highest, default=None)
    return {
        "battery_id": battery_id,
        "unit": unit,
        "level": level,
        "target": target,
        "best_claimed": max(claimed, key=_highest, default=None),
        "best_measured": best_measured,
        "gap": gap(target["value_min"], best_measured["value_min"])
        if target and best_measured
        else None,
        "timeline": sorted(records, key=_timeline),
    }


def gap(target: float, measured: float) -> dict[str, Any]:
    """How far the measurement is below the target: a 400+ target and a 360 measurement
    are 40 Wh/kg, 10.0 % (negative above it); the percent rounded half away from zero."""
    value = Decimal(repr(target)) - Decimal(repr(measured))
    percent = value / Decimal(repr(target)) * 100
    if abs(percent) < QUANTIZABLE:
        percent = percent.quantize(TENTH, ROUND_HALF_UP)
    return {"value": json_number(float(value)), "percent": _double(percent)}


def _double(value: Decimal) -> float:
    return float(max(-LARGEST, min(value, LARGEST)))


def claim_gap(connection: Connection, by: GapBy, unit: str, level: str) -> list[dict[str, Any]]:
    """Per technology or battery partner, over the batteries with both a target and a
    measurement: how many, the mean gap and percent, the largest gap."""
    table = EnergyDensity
    same = (col(table.unit) == unit, col(table.level) == level, col(table.battery_id).is_not(None))
    newest_first = func.row_number().over(
        partition_by=col(table.battery_id),
        order_by=(
            col(table.as_of).is_(None), col(table.as_of).desc(), col(table.created_at).desc()
        ),
    )  # fmt: skip
    targets = (
        select(col(table.battery_id).label("battery_id"), col(table.value_min).label("target"),
               newest_first.label("rank"))
        .where(col(table.status) == DensityStatus.targeted, *same)
        .subquery()
    )  # fmt: skip
    measured = (
        select(col(table.battery_id).label("battery_id"), func.max(table.value_min).label("best"))
        .where(col(table.status).in_(MEASURED), *same)
        .group_by(col(table.battery_id))
        .subquery()
    )
    key, label = (
        (col(Battery.technology), col(Battery.technology))
        if by is GapBy.technology
        else (col(BatteryPartner.slug), col(BatteryPartner.name))
    )
    query = (
        select(key.label("key"), label.label("label"), targets.c.target, measured.c.best)
        .select_from(targets)
        .join(measured, measured.c.battery_id == targets.c.battery_id)
        .join(Battery, col(Battery.id) == targets.c.battery_id)
        .join(BatteryPartner, col(BatteryPartner.id) == Battery.battery_partner_id)
        .where(targets.c.rank == 1)
    )
    groups: dict[Any, list[Any]] = defaultdict(list)
    labels: dict[Any, str] = {}
    for row in connection.execute(query):
        groups[row.key].append(gap(row.target, row.best))
        labels[row.key] = str(row.label)
    return [
        {
            "key": str(key),
            "label": labels[key],
            "batteries": len(gaps),
            "mean_gap": _figure(sum(g["value"] for g in gaps) / len(gaps)),
            "mean_percent": _figure(_double(_mean(g["percent"] for g in gaps))),
            "max_gap": _figure(max(g["value"] for g in gaps)),
        }
        for key, gaps in sorted(groups.items(), key=lambda item: str(item[0]))
    ]


def _mean(values: Iterable[float]) -> Decimal:
    """Summed as Decimals, so that percents near the largest double do not overflow to inf."""
    exact = [Decimal(v) for v in values]
    return sum(exact, Decimal(0)) / len(exact)


def _figure(value: float) -> float | int:
    return json_number(round(float(value), DIGITS))
