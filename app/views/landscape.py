"""`GET /api/v1/landscape`: one row per partnership, as the seed article's table shows it.
The rows are made in app.market.landscape, which keeps each one's JSON as the writes
change it: a page of the present reads those, a page of the past (`known_at`, the diff)
and CSV make theirs from the records."""

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, select
from sqlmodel import Session, col

from app.db import processed
from app.loop_reads import Reads
from app.market.companies import automaker_or_group
from app.market.landscape import (
    PAGE,
    PARTNERSHIP,
    ROWS,
    SHAPE,
    joins_as_written,
    row,
    rows_of,
    shown_figures,
)
from app.market.programmes import PARTNERSHIPS, Partnership
from app.resources import plans
from app.resources.cursor import SortKey
from app.resources.pages import keyset_page, next_cursor
from app.resources.query import queryable
from app.resources.sorting import parse_sort
from app.resources.spec import Filter


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


KEYS: list[SortKey] = parse_sort(Partnership, None, ())  # as the partnerships' list: oldest first


def page(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """A keyset page of landscape rows made from the records, one per partnership that
    matches `where`: two queries, the partnerships with their names joined, then their
    figures. What the past and CSV read."""
    joins_as_written(session)
    found = keyset_page(session, PAGE.where(*where), KEYS, limit=limit, after=after, scope=scope)
    shown = shown_figures(session, found.rows) if found.rows else {}
    return [row(p, shown.get(p.id)) for p in found.rows], found.next_cursor


KEPT = select(PARTNERSHIP.c.id, PARTNERSHIP.c.created_at, ROWS.c.shape, ROWS.c.body).select_from(
    PARTNERSHIP.outerjoin(ROWS, ROWS.c.partnership_id == PARTNERSHIP.c.id)
)


def kept_page(
    connection: Connection,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    after: str | None,
    scope: str,
) -> tuple[list[Any], str | None]:
    """The same page, of the present, as the writes keep it: one query on the partnerships'
    keyset index joined to their rows' JSON, spliced into the page unparsed (a row missing
    or of another shape is made as `page` makes it)."""
    found = keyset_page(connection, KEPT.where(*where), KEYS, limit=limit, after=after, scope=scope)
    made = {}
    if stale := [p.id for p in found.rows if p.shape != SHAPE]:
        with Session(bind=connection) as session:
            joins_as_written(session)
            made = rows_of(session, stale)
    items = [orjson.Fragment(p.body) if p.shape == SHAPE else made[p.id] for p in found.rows]
    return items, found.next_cursor


async def kept_page_on_loop(
    loop_reads: Reads,
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    after: list[Any] | None,
    scope: str,
) -> tuple[list[Any], str | None] | None:
    """`kept_page` read on the event loop (app.loop_reads), its statement planned once for
    each shape of request (app.resources.plans), from a cursor's decoded values; None when
    it cannot be planned or a row must be made from the records (the caller reads it
    through the engine)."""
    found = plans.planned(loop_reads.dialect, KEPT, "landscape", where, KEYS, limit + 1, after)
    if found is None:
        return None
    rows = processed(*await loop_reads.all(*found))
    if any(shape != SHAPE for _, _, shape, _ in rows):
        return None
    keyed = [{"id": id_, "created_at": created_at} for id_, created_at, _, _ in rows]
    items = [orjson.Fragment(body) for _, _, _, body in rows[:limit]]
    return items, next_cursor(KEYS, keyed, limit, scope)
