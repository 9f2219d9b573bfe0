"""`GET /api/v1/landscape`: one row per partnership, as the seed article's table shows it."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlmodel import Session, col

from app.market.companies import Automaker, BatteryPartner, automaker_or_group
from app.market.enums import DensityStatus, Level, Unit
from app.market.products import Battery, EnergyDensity, density_display
from app.market.programmes import PARTNERSHIPS, Partnership
from app.market.sources import Source
from app.resources.cursor import SortKey
from app.resources.fields import json_number
from app.resources.pages import keyset_page
from app.resources.query import queryable
from app.resources.sorting import parse_sort
from app.resources.spec import Filter

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
    own = queryable(PARTNERSHIPS).filters
    partner = own["battery_partner_id"]
    return {
        "technology": own["technology"],
        "country": own["country"],
        "automaker": _automaker_or_group(),
        "battery_partner": Filter("battery_partner", str, partner.description, partner.clause),
        "status": own["status"],
    }


DENSITY_COLUMNS = [
    col(getattr(EnergyDensity, name))
    for name in ("partnership_id", "battery_id", "battery_partner_id", "value_min", "value_max",
                 "unit", "level", "status", "as_of", "created_at", "source_id")
]  # fmt: skip
DENSITY_NAMES = [column.key for column in DENSITY_COLUMNS]  # type: ignore[attr-defined]


def _by_id(session: Session, model: Any, ids: set[Any]) -> dict[Any, Any]:
    """Rows (not ORM objects: loading those cost more than the page's queries) by id."""
    ids.discard(None)
    table = model.__table__
    return (
        {r.id: r for r in session.execute(select(table).where(table.c.id.in_(ids)))} if ids else {}
    )


def _shown(partnership: Any, tiers: tuple[dict[Any, Any], ...]) -> EnergyDensity | None:
    """The partnership's own figure, else its battery's, else its partner's."""
    by_partnership, by_battery, by_partner = tiers
    for found in (
        by_partnership.get(partnership.id),
        by_battery.get(partnership.battery_id),
        by_partner.get(partnership.battery_partner_id),
    ):
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


def _tiers(
    session: Session, partnerships: list[Any], batteries: list[Any], partners: list[Any]
) -> tuple[dict[Any, Any], ...]:
    """The preferred figure of each tier by the id it hangs on: a partnership's own, a battery's own
    (tied to no partnership), a partner's own (tied to no battery or partnership). One query
    a tier, each walking its own reference index, where one OR across the three columns
    would scan the table; plain rows, not ORM objects, since nothing here is written."""
    table = EnergyDensity
    no_partnership = col(table.partnership_id).is_(None)
    tiers: list[tuple[Any, list[Any], list[Any]]] = [
        (table.partnership_id, partnerships, []),
        (table.battery_id, batteries, [no_partnership]),
        (table.battery_partner_id, partners, [col(table.battery_id).is_(None), no_partnership]),
    ]
    grouped: list[dict[Any, Any]] = []
    for column, ids, extra in tiers:
        by_id: dict[Any, Any] = {}
        if ids:
            for row in session.execute(_preferred(col(column), ids, extra)):
                by_id[getattr(row, column.key)] = row
        grouped.append(by_id)
    return tuple(grouped)


def _preferred(column: Any, ids: list[Any], extra: list[Any]) -> Select[Any]:
    """The preferred figure of each id (API.md §9: cell level and Wh/kg first, then the
    newest `as_of`, undated last; the id breaks ties), chosen in SQL: one row
    each comes back, not every figure (ten a partnership at S, which cost a page more
    than the rest of it)."""
    table = EnergyDensity
    order = (
        col(table.level) != Level.cell.value,
        col(table.unit) != Unit.wh_per_kg.value,
        col(table.as_of).is_(None),
        col(table.as_of).desc(),
        col(table.created_at).desc(),
        col(table.id),
    )
    rank = func.row_number().over(partition_by=column, order_by=order).label("rank")
    ranked = select(*DENSITY_COLUMNS, rank).where(column.in_(ids), *extra).subquery()
    return select(*(ranked.c[name] for name in DENSITY_NAMES)).where(ranked.c.rank == 1)


KEYS: list[SortKey] = parse_sort(Partnership, None, ())  # as the partnerships' list: oldest first


def page(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """A keyset page of landscape rows, one per partnership that matches `where`."""
    query = select(Partnership.__table__).where(*where)  # type: ignore[attr-defined]
    found = keyset_page(session, query, KEYS, limit=limit, after=after, scope=scope)
    return rows(session, found.rows), found.next_cursor


def rows(session: Session, partnerships: Sequence[Any]) -> list[dict[str, Any]]:
    """Landscape rows for a page of partnerships, in a fixed number of queries."""
    makers = _by_id(session, Automaker, {p.automaker_id for p in partnerships})
    makers |= _by_id(session, Automaker, {m.parent_id for m in makers.values()} - set(makers))
    partners = _by_id(session, BatteryPartner, {p.battery_partner_id for p in partnerships})
    batteries = _by_id(session, Battery, {p.battery_id for p in partnerships})
    tiers = _tiers(session, [p.id for p in partnerships], list(batteries), list(partners))
    shown = {p.id: _shown(p, tiers) for p in partnerships}
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
    partnership: Any,
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
