"""`GET /api/v1/landscape`: one row per partnership, as the seed article's table shows it."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    text,
    union_all,
)
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


# The page's joins are aliases: a filter's own subquery on the same table (`automaker=`
# reads automakers) must not be correlated to them.
PARTNERSHIP = Partnership.__table__  # type: ignore[attr-defined]
MAKER = Automaker.__table__.alias("maker")  # type: ignore[attr-defined]
GROUP = Automaker.__table__.alias("maker_group")  # type: ignore[attr-defined]
PARTNER = BatteryPartner.__table__.alias("partner")  # type: ignore[attr-defined]
BATTERY = Battery.__table__.alias("battery")  # type: ignore[attr-defined]
FIGURES = EnergyDensity.__table__  # type: ignore[attr-defined]


def _sources(of: str) -> Any:
    """The sources, as joined to `of`'s rows for the title each one cites."""
    return Source.__table__.alias(f"{of}_source")  # type: ignore[attr-defined]


# What the page needs to find each partnership's figure: its own id, battery and partner.
HANGS = ("id", "battery_id", "battery_partner_id")
SHOWN = ("value_min", "value_max", "unit", "level", "status")
PAGE_SOURCE = _sources("partnership")
PAGE = select(
    *(PARTNERSHIP.c[name] for name in HANGS),
    *(PARTNERSHIP.c[name] for name in ("created_at", "commercialization_status", "stage")),
    PARTNERSHIP.c.vehicle_models,
    MAKER.c.name.label("maker"),
    GROUP.c.name.label("maker_group"),
    PARTNER.c.name.label("partner"),
    BATTERY.c.name.label("battery"),
    BATTERY.c.technology,
    PAGE_SOURCE.c.title.label("source"),
).select_from(
    PARTNERSHIP.join(MAKER, MAKER.c.id == PARTNERSHIP.c.automaker_id)
    .outerjoin(GROUP, GROUP.c.id == MAKER.c.parent_id)
    .join(PARTNER, PARTNER.c.id == PARTNERSHIP.c.battery_partner_id)
    .outerjoin(BATTERY, BATTERY.c.id == PARTNERSHIP.c.battery_id)
    .outerjoin(PAGE_SOURCE, PAGE_SOURCE.c.id == PARTNERSHIP.c.source_id)
)


def _preferred(tier: int, column: Any, extra: list[Any]) -> Select[Any]:
    """The preferred figure of each id of one tier, among the ids bound as `tier_<tier>`
    (API.md §9: cell level and Wh/kg first, then the newest `as_of`, undated last; the id
    breaks ties), ranked in SQL: one row each comes back, not every figure."""
    order = (
        FIGURES.c.level != Level.cell.value,
        FIGURES.c.unit != Unit.wh_per_kg.value,
        FIGURES.c.as_of.is_(None),
        FIGURES.c.as_of.desc(),
        FIGURES.c.created_at.desc(),
        FIGURES.c.id,
    )
    rank = func.row_number().over(partition_by=column, order_by=order).label("rank")
    return select(
        literal_column(str(tier)).label("tier"),
        column.label("hang"),
        *(FIGURES.c[name] for name in SHOWN),
        FIGURES.c.source_id,
        rank,
    ).where(column.in_(bindparam(f"tier_{tier}", expanding=True)), *extra)


def _figures_query() -> Select[Any]:
    """Each partnership's figure candidates, one per tier: its own, its battery's own (tied
    to no partnership), its partner's own (tied to no battery or partnership). Each tier
    walks its own reference index (one OR across the three columns would scan the table);
    the source's title joined. Built once: the page binds the ids."""
    no_partnership, no_battery = FIGURES.c.partnership_id.is_(None), FIGURES.c.battery_id.is_(None)
    ranked = union_all(
        _preferred(0, FIGURES.c.partnership_id, []),
        _preferred(1, FIGURES.c.battery_id, [no_partnership]),
        _preferred(2, FIGURES.c.battery_partner_id, [no_battery, no_partnership]),
    ).subquery()
    source = _sources("figure")
    return (
        select(ranked, source.c.title.label("source"))
        .outerjoin(source, source.c.id == ranked.c.source_id)
        .where(ranked.c.rank == 1)
    )


FIGURES_QUERY = _figures_query()


def _figures(session: Session, page: Sequence[Any]) -> dict[Any, Any]:
    """The figure each partnership shows, by its id: the first tier that has one."""
    hangs = [[getattr(p, name) for p in page] for name in HANGS]
    params = {f"tier_{tier}": [h for h in ids if h is not None] for tier, ids in enumerate(hangs)}
    by_tier: list[dict[Any, Any]] = [{}, {}, {}]
    for row in session.execute(FIGURES_QUERY, params):
        by_tier[row.tier][row.hang] = row
    shown = {}
    for p in page:
        for tier, name in enumerate(HANGS):
            if (found := by_tier[tier].get(getattr(p, name))) is not None:
                shown[p.id] = found
                break
    return shown


KEYS: list[SortKey] = parse_sort(Partnership, None, ())  # as the partnerships' list: oldest first


def page(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """A keyset page of landscape rows, one per partnership that matches `where`: two
    queries, the partnerships with their names joined, then their figures."""
    _joins_as_written(session)
    found = keyset_page(session, PAGE.where(*where), KEYS, limit=limit, after=after, scope=scope)
    shown = _figures(session, found.rows) if found.rows else {}
    return [_row(p, shown.get(p.id)) for p in found.rows], found.next_cursor


def _joins_as_written(session: Session) -> None:
    """Postgres plans the page's six-table join by trying every order of the joins: 5 ms at
    S, several times what running it costs, on every request. The order written, the
    partnerships first by their keyset index, is the one it would choose; for the rest of
    this read's transaction it takes that one."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL join_collapse_limit = 1"))


def _number(value: float | None) -> float | int | None:
    return None if value is None else json_number(value)


def _row(partnership: Any, density: Any) -> dict[str, Any]:
    figure = None
    if density:
        figure = density_display(density.value_min, density.value_max, density.unit)
        if density.status == DensityStatus.targeted:
            figure += " (targeted)"
    cited = (partnership.source, density.source if density else None)
    maker = partnership.maker
    return {
        "automaker": f"{partnership.maker_group} ({maker})" if partnership.maker_group else maker,
        "battery_partner": partnership.partner,
        "battery": partnership.battery,
        "technology": partnership.technology,
        "energy_density": figure,
        "energy_density_min": _number(density.value_min if density else None),
        "energy_density_max": _number(density.value_max if density else None),
        "energy_density_status": density.status if density else None,
        "energy_density_level": density.level if density else None,
        "commercialization_status": partnership.commercialization_status,
        "stage": partnership.stage,
        "vehicle_models": partnership.vehicle_models,
        "sources": list(dict.fromkeys(title for title in cited if title is not None)),
        "partnership_id": str(partnership.id),
    }
