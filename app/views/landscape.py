"""`GET /api/v1/landscape`: one row per partnership, as the seed article's table shows it."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from app.market.companies import Automaker, BatteryPartner
from app.market.enums import DensityStatus, Level, Unit
from app.market.joins import automaker_or_group
from app.market.products import Battery, EnergyDensity, density_display
from app.market.programmes import Partnership
from app.market.registry import BY_PATH
from app.market.sources import Source
from app.market.types import json_number
from app.resources.filters import Filter
from app.resources.query import queryable

COLUMNS = (
    "automaker", "battery_partner", "battery", "technology", "energy_density",
    "energy_density_min", "energy_density_max", "energy_density_status", "energy_density_level",
    "commercialization_status", "stage", "vehicle_models", "sources", "partnership_id",
)  # fmt: skip


def _automaker_or_group() -> Filter:
    makers = automaker_or_group("automaker")
    return Filter(
        "automaker",
        str,
        "The automaker (id or slug); a group (SAIC) also matches its brands (IM Motors). "
        "Comma-separated for any of.",
        lambda raw: col(Partnership.automaker_id).in_(makers(raw)),
    )


def filters() -> dict[str, Filter]:
    """The landscape's filters: the partnerships' own, under the names analysts use."""
    own = queryable(BY_PATH["partnerships"]).filters
    partner = own["battery_partner_id"]
    return {
        "technology": own["technology"],
        "country": own["country"],
        "automaker": _automaker_or_group(),
        "battery_partner": Filter("battery_partner", str, partner.description, partner.clause),
        "status": own["status"],
    }


def _by_id(session: Session, table: Any, ids: set[Any]) -> dict[Any, Any]:
    ids.discard(None)
    return {r.id: r for r in session.scalars(select(table).where(table.id.in_(ids)))} if ids else {}


def _preference(density: EnergyDensity) -> tuple[Any, ...]:
    """Cell level and Wh/kg first, then the newest `as_of`, undated last (API.md §9)."""
    as_of = density.as_of or dt.date.min
    return (
        density.level != Level.cell,
        density.unit != Unit.wh_per_kg,
        density.as_of is None,
        -as_of.toordinal(),
        -density.created_at.timestamp(),
    )


def _battery_level(density: EnergyDensity) -> bool:
    """A battery's own figure, not one tied to some other partnership."""
    return density.battery_id is not None and density.partnership_id is None


def _partner_level(density: EnergyDensity) -> bool:
    """A maker's own figure, not one of its batteries' or partnerships'."""
    return density.battery_id is None and density.partnership_id is None


def _shown(partnership: Partnership, densities: list[EnergyDensity]) -> EnergyDensity | None:
    """The partnership's own figure, else its battery's, else its partner's."""
    tiers = (
        [d for d in densities if d.partnership_id == partnership.id],
        [d for d in densities if _battery_level(d) and d.battery_id == partnership.battery_id],
        [
            d
            for d in densities
            if _partner_level(d) and d.battery_partner_id == partnership.battery_partner_id
        ],
    )
    for tier in tiers:
        if tier:
            return min(tier, key=_preference)
    return None


def rows(session: Session, partnerships: Sequence[Partnership]) -> list[dict[str, Any]]:
    """Landscape rows for a page of partnerships, in a fixed number of queries."""
    makers = _by_id(session, Automaker, {p.automaker_id for p in partnerships})
    makers |= _by_id(session, Automaker, {m.parent_id for m in makers.values()} - set(makers))
    partners = _by_id(session, BatteryPartner, {p.battery_partner_id for p in partnerships})
    batteries = _by_id(session, Battery, {p.battery_id for p in partnerships})
    densities = list(
        session.scalars(
            select(EnergyDensity).where(
                or_(
                    col(EnergyDensity.partnership_id).in_([p.id for p in partnerships]),
                    and_(
                        col(EnergyDensity.partnership_id).is_(None),
                        or_(
                            col(EnergyDensity.battery_id).in_(list(batteries)),
                            and_(
                                col(EnergyDensity.battery_id).is_(None),
                                col(EnergyDensity.battery_partner_id).in_(list(partners)),
                            ),
                        ),
                    ),
                )
            )
        )
    )
    shown = {p.id: _shown(p, densities) for p in partnerships}
    sources = _by_id(
        session,
        Source,
        {p.source_id for p in partnerships} | {d.source_id for d in shown.values() if d},
    )
    return [
        _row(
            p,
            makers,
            partners[p.battery_partner_id],
            batteries.get(p.battery_id),
            shown,
            sources,
        )
        for p in partnerships
    ]


def _number(value: float | None) -> float | int | None:
    return None if value is None else json_number(value)


def _row(
    partnership: Partnership,
    makers: dict[Any, Automaker],
    partner: BatteryPartner,
    battery: Battery | None,
    shown: dict[Any, EnergyDensity | None],
    sources: dict[Any, Source],
) -> dict[str, Any]:
    maker = makers[partnership.automaker_id]
    density = shown[partnership.id]
    group = makers.get(maker.parent_id) if maker.parent_id else None
    cited = [partnership.source_id, density.source_id if density else None]
    figure = None
    if density:
        figure = density_display(density.value_min, density.value_max, density.unit)
        if density.status == DensityStatus.targeted:
            figure += " (targeted)"
    return {
        "automaker": f"{group.name} ({maker.name})" if group else maker.name,
        "battery_partner": partner.name,
        "battery": battery.name if battery else None,
        "technology": battery.technology if battery else None,
        "energy_density": figure,
        "energy_density_min": _number(density.value_min if density else None),
        "energy_density_max": _number(density.value_max if density else None),
        "energy_density_status": density.status if density else None,
        "energy_density_level": density.level if density else None,
        "commercialization_status": partnership.commercialization_status,
        "stage": partnership.stage,
        "vehicle_models": partnership.vehicle_models,
        "sources": list(dict.fromkeys(sources[s].title for s in cited if s in sources)),
        "partnership_id": str(partnership.id),
    }
