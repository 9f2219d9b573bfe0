"""Filters that reach through a reference: the joins users ask for (API.md §3)."""

from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import col

from app.market.companies import Automaker, BatteryPartner
from app.market.enums import Technology
from app.market.products import Battery, EnergyDensity
from app.market.programmes import Milestone, Partnership
from app.market.registry import BY_PATH
from app.resources.filters import Filter, any_of, ref_any_of


def _technology(raw: str) -> str:
    return Technology(raw).value


TECHNOLOGY = "Technology of the record's battery: `liquid`, `semi_solid`, `all_solid_state`"


def _through(column: Any, target_id: Any, inner: Filter) -> Filter:
    """`inner` applied to the referenced table, as a filter on `column` (no join needed)."""
    return Filter(
        inner.param,
        inner.annotation,
        inner.description,
        lambda raw: column.in_(select(target_id).where(inner.clause(raw))),
    )


def automaker_or_group(param: str) -> Any:
    """Ids of the automakers named (id or slug) and, for a group (SAIC), of its brands."""
    named = ref_any_of(param, col(Automaker.id), BY_PATH["automakers"], "x")

    def ids(raw: str) -> Any:
        chosen = select(col(Automaker.id)).where(named.clause(raw))
        return select(col(Automaker.id)).where(
            or_(col(Automaker.id).in_(chosen), col(Automaker.parent_id).in_(chosen))
        )

    return ids


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


JOINED: dict[str, list[Filter]] = {
    "energy-densities": [
        _through(
            EnergyDensity.battery_id,
            Battery.id,
            any_of("technology", Battery.technology, _technology, TECHNOLOGY),
        ),
    ],
    "partnerships": [
        _through(
            Partnership.automaker_id,
            Automaker.id,
            any_of(
                "country", Automaker.country, str.upper, "Country of the automaker (ISO 3166-1)"
            ),
        ),
        _through(
            Partnership.battery_id,
            Battery.id,
            any_of("technology", Battery.technology, _technology, TECHNOLOGY),
        ),
    ],
    "milestones": [_milestone_automaker()],
}
