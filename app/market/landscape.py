"""The landscape's rows (one per partnership, as the seed article's table shows it), made
from the records, and kept by the writes: `landscape_rows` holds each partnership's row as
the JSON a page sends, rewritten in the transaction of every change that shows in it.

A row names its automaker (and the automaker's group), partner, battery and sources, and
shows one energy-density figure chosen among three tiers (API.md §9). So the rows a
change rewrites are those of: the partnership itself; an automaker's partnerships and its
brands'; a partner's, a battery's; a source's, and those that show a figure citing it; and
for a figure, before and after the change, its partnership's, else its battery's, else
its partner's (the tier it stands in). `tests/test_landscape_rows.py` checks every kind.

A kept row carries the `SHAPE` of the code that made it: a row of another shape (or none)
is made on the spot as the page is read, so what a page shows never depends on the rows
having been refilled; migration 0014 fills them.
"""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    Select,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlmodel import Session

from app.columns import metadata
from app.db import dialect_insert
from app.market.companies import Automaker, BatteryPartner
from app.market.enums import DensityStatus, Level, Unit
from app.market.products import Battery, EnergyDensity, density_display
from app.market.programmes import Partnership
from app.market.sources import Source
from app.resources import changelog, versions
from app.resources.fields import json_number
from app.resources.rows import dumps

COLUMNS = (
    "automaker", "battery_partner", "battery", "technology", "energy_density",
    "energy_density_min", "energy_density_max", "energy_density_status", "energy_density_level",
    "commercialization_status", "stage", "vehicle_models", "sources", "partnership_id",
)  # fmt: skip
# Bump when a row's JSON changes (its columns, a figure's display), with a migration that
# calls `refill` as 0014 does: until then rows of the older shape are made on every read.
SHAPE = 1

ROWS = Table(
    "landscape_rows",
    metadata,
    Column("partnership_id", Uuid, primary_key=True),
    Column("shape", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

# The page's joins are aliases: a filter's own subquery on the same table (`automaker=`
# reads automakers) must not be correlated to them.
PARTNERSHIP: Table = Partnership.__table__  # type: ignore[attr-defined]
AUTOMAKERS: Table = Automaker.__table__  # type: ignore[attr-defined]
MAKER = AUTOMAKERS.alias("maker")
GROUP = AUTOMAKERS.alias("maker_group")
PARTNER = BatteryPartner.__table__.alias("partner")  # type: ignore[attr-defined]
BATTERY = Battery.__table__.alias("battery")  # type: ignore[attr-defined]
FIGURES: Table = EnergyDensity.__table__  # type: ignore[attr-defined]
SOURCES: Table = Source.__table__  # type: ignore[attr-defined]


def _sources(of: str) -> Any:
    """The sources, as joined to `of`'s rows for the title each one cites."""
    return SOURCES.alias(f"{of}_source")


# What a page needs to find each partnership's figure: its own id, battery and partner.
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


def shown_figures(session: Session, page: Sequence[Any]) -> dict[Any, Any]:
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


def joins_as_written(session: Session) -> None:
    """Postgres plans the page's six-table join by trying every order of the joins: 5 ms at
    S, several times what running it costs, on every request. The order written, the
    partnerships first by their keyset index, is the one it would choose; for the rest of
    this transaction it takes that one (a writer sets it back after)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL join_collapse_limit = 1"))


def _joins_reordered(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL join_collapse_limit TO DEFAULT"))


def _number(value: float | None) -> float | int | None:
    return None if value is None else json_number(value)


def row(partnership: Any, density: Any) -> dict[str, Any]:
    """A landscape row: a `PAGE` row and the figure it shows (or None)."""
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


def _batched(ids: Iterable[UUID], size: int) -> Iterator[list[UUID]]:
    """In order, so that concurrent writers take the rows' locks in one order."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def rows_of(session: Session, ids: Iterable[UUID]) -> dict[UUID, dict[str, Any]]:
    """The rows of these partnerships, made from the records: two queries a 500."""
    rows: dict[UUID, dict[str, Any]] = {}
    for chunk in _batched(ids, 500):
        found = list(session.execute(PAGE.where(PARTNERSHIP.c.id.in_(chunk))))
        shown = shown_figures(session, found) if found else {}
        rows.update({p.id: row(p, shown.get(p.id)) for p in found})
    return rows


def write(session: Session, ids: set[UUID]) -> None:
    """Keep the rows of these partnerships as they are now (a deleted one's row goes)."""
    if not ids:
        return
    joins_as_written(session)
    rows = rows_of(session, ids)
    _joins_reordered(session)
    if gone := ids - rows.keys():
        for chunk in _batched(gone, 500):
            session.execute(delete(ROWS).where(ROWS.c.partnership_id.in_(chunk)))
    if rows:
        insert = dialect_insert(session)(ROWS)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["partnership_id"],
                set_={"shape": insert.excluded.shape, "body": insert.excluded.body},
            ),
            [{"partnership_id": i, "shape": SHAPE, "body": dumps(rows[i])} for i in sorted(rows)],
        )


# A figure's columns that say which partnerships may show it.
FIGURE_HANGS = ("partnership_id", "battery_id", "battery_partner_id")
# Of each table, the columns a row shows or chooses its figure by: a change of any other
# column (a note, a description) rewrites no row.
SHOWS = {
    PARTNERSHIP.name: ("automaker_id", "battery_partner_id", "battery_id", "source_id",
                       "vehicle_models", "stage", "commercialization_status"),
    AUTOMAKERS.name: ("name", "parent_id"),
    PARTNER.element.name: ("name",),
    BATTERY.element.name: ("name", "technology"),
    SOURCES.name: ("title",),
    FIGURES.name: (*FIGURE_HANGS, *SHOWN, "as_of", "source_id"),
}  # fmt: skip


def _showing(figures: Iterable[Any]) -> list[Any]:
    """Which partnerships may show these figures (rows with `FIGURE_HANGS`): by the tier
    each stands in, its partnership, else its battery's, else its partner's."""
    own, by_battery, by_partner = set(), set(), set()
    for f in figures:
        if f["partnership_id"] is not None:
            own.add(f["partnership_id"])
        elif f["battery_id"] is not None:
            by_battery.add(f["battery_id"])
        else:
            by_partner.add(f["battery_partner_id"])
    clauses = [PARTNERSHIP.c.id.in_(own)] if own else []
    if by_battery:
        clauses.append(PARTNERSHIP.c.battery_id.in_(by_battery))
    if by_partner:
        clauses.append(PARTNERSHIP.c.battery_partner_id.in_(by_partner))
    return clauses


def _shown_changes(
    session: Session, made: list[versions.Version], table: Table
) -> tuple[list[Any], list[Any]]:
    """The records of `table` whose shown columns the transaction changed: each one's
    columns before (unless created) and after (unless deleted)."""
    changes = versions.first_and_last(made, table.name)
    if not changes:
        return [], []
    shown = SHOWS[table.name]
    was = [i for i, (first, _) in changes.items() if not first.created]
    old = {r["id"]: r for r in versions.open_rows(session, table, was, ("id", *shown))}
    before, after = [], []
    for record_id, (_, last) in changes.items():
        previous, now = old.get(record_id), last.row
        if previous is not None and now is not None and all(previous[c] == now[c] for c in shown):
            continue
        before += [previous] if previous is not None else []
        after += [now] if now is not None else []
    return before, after


def _touched(session: Session, made: list[versions.Version]) -> set[UUID]:
    """The partnerships whose rows the transaction's changes may have changed."""
    changed = {}
    for table in (PARTNERSHIP, AUTOMAKERS, PARTNER.element, BATTERY.element, SOURCES):
        before, after = _shown_changes(session, made, table)
        changed[table.name] = {r["id"] for r in [*before, *after]}
    ids: set[UUID] = changed[PARTNERSHIP.name]
    clauses = []
    if makers := changed[AUTOMAKERS.name]:
        brands = select(AUTOMAKERS.c.id).where(AUTOMAKERS.c.parent_id.in_(makers))
        clauses += [PARTNERSHIP.c.automaker_id.in_(makers), PARTNERSHIP.c.automaker_id.in_(brands)]
    if partners := changed[PARTNER.element.name]:
        clauses.append(PARTNERSHIP.c.battery_partner_id.in_(partners))
    if batteries := changed[BATTERY.element.name]:
        clauses.append(PARTNERSHIP.c.battery_id.in_(batteries))
    if sources := changed[SOURCES.name]:
        clauses.append(PARTNERSHIP.c.source_id.in_(sources))
        hangs = [FIGURES.c[name] for name in FIGURE_HANGS]
        citing = select(*hangs).where(FIGURES.c.source_id.in_(sources))
        clauses += _showing(r._mapping for r in session.execute(citing))
    before, after = _shown_changes(session, made, FIGURES)
    if before or after:
        clauses += _showing([*before, *after])
    if clauses:
        ids.update(session.scalars(select(PARTNERSHIP.c.id).where(or_(*clauses))))
    return ids


@changelog.on_publish
def keep(session: Session, made: list[versions.Version]) -> None:
    """The rows the transaction's changes show in, written again in its transaction."""
    write(session, _touched(session, made))


def refill(connection: Connection) -> int:
    """Write every row that is missing or of another shape, in the connection's transaction
    (a migration's fill): the number written."""
    stale = (
        select(PARTNERSHIP.c.id)
        .outerjoin(ROWS, ROWS.c.partnership_id == PARTNERSHIP.c.id)
        .where(or_(ROWS.c.shape.is_(None), ROWS.c.shape != SHAPE))
    )
    with Session(bind=connection) as session:
        ids = set(session.scalars(stale))
        for chunk in _batched(ids, 5000):
            write(session, set(chunk))
    return len(ids)
