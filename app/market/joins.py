"""Filters that reach through a reference: the joins users ask for (API.md §3)."""

from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import col

from app.market.companies import Automaker
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


def _milestone_automaker() -> Filter:
    direct = ref_any_of("automaker", Milestone.automaker_id, BY_PATH["automakers"], "x")
    via = ref_any_of("automaker", Partnership.automaker_id, BY_PATH["automakers"], "x")

    def clause(raw: str) -> ColumnElement[bool]:
        partnerships = select(col(Partnership.id)).where(via.clause(raw))
        return or_(direct.clause(raw), col(Milestone.partnership_id).in_(partnerships))

    return Filter(
        "automaker",
        str,
        "Milestones of this automaker (id or slug), directly or through its partnerships. "
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
