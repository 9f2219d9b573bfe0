"""The analyst views' routes: search, landscape and energy-density statistics, JSON or CSV."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field, create_model
from sqlalchemy import select
from sqlmodel import Session

from app.access.guard import guard
from app.db import ReadSession
from app.market.enums import Unit
from app.market.programmes import Partnership
from app.market.registry import BY_PATH, SPECS
from app.problems import BadRequest
from app.resources import cursor
from app.resources.formats import PageFetch, csv_response, every_page, wants_csv_for
from app.resources.query import StrictQuery, queryable, single_valued
from app.resources.routes import API_PREFIX, next_link
from app.resources.sorting import parse_sort
from app.views import landscape, search, stats
from app.views.search_index import record_matches

router = APIRouter(
    prefix=API_PREFIX, tags=["views"], dependencies=[Depends(guard), Depends(single_valued)]
)
Format = Literal["json", "csv"]
FORMAT_DOC = "`csv` streams every page as CSV (so does `Accept: text/csv`)."


class PageQuery(StrictQuery):
    limit: int = Field(50, ge=1, le=500, description="Page size, 1–500.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    format: Format = Field("json", description=FORMAT_DOC)


class SearchQuery(PageQuery):
    q: str = Field(min_length=1, max_length=200, description="Text to find; any case; `蔚来`.")
    collections: str | None = Field(
        None, description="Only these collections, comma-separated: `automakers,batteries`."
    )


class StatsBase(StrictQuery):
    group_by: stats.GroupBy = Field(description="`technology`, `battery_partner`, `level`, `year`.")
    unit: Unit = Field(Unit.wh_per_kg, description="One unit at a time: `Wh/kg` or `Wh/L`.")
    format: Format = Field("json", description="`csv` for CSV (so does `Accept: text/csv`).")
    q: str | None = Field(None, description="Only figures whose text (note, maker) contains this.")


_LANDSCAPE_FIELDS: dict[str, Any] = {n: f.field() for n, f in landscape.filters().items()}
LandscapeQuery = create_model("LandscapeQuery", __base__=PageQuery, **_LANDSCAPE_FIELDS)
_DENSITY_FILTERS = {
    name: f for name, f in queryable(BY_PATH["energy-densities"]).filters.items() if name != "unit"
}
_DENSITY_FIELDS: dict[str, Any] = {n: f.field() for n, f in _DENSITY_FILTERS.items()}
StatsQuery = create_model("EnergyDensityStatsQuery", __base__=StatsBase, **_DENSITY_FIELDS)


def _paged(
    request: Request, session: Session, query: Any, name: str, header: list[str], fetch: PageFetch
) -> Response:
    """One JSON page, or every page as CSV."""
    if wants_csv_for(request, query):
        pages = every_page(request.app.state.engine, fetch, query, query.cursor)
        return csv_response(name, header, pages)
    items, next_cursor = fetch(session, query.limit, query.cursor)
    body = {"items": items, "next_cursor": next_cursor}
    return JSONResponse(body, headers=next_link(request, next_cursor))


@router.get(
    "/search",
    summary="Search every collection",
    description="Records whose names, local names, titles, descriptions or notes contain `q`, "
    "from every collection: exact name matches first, then names that start with `q`, then "
    "other name matches, then text matches. Each item has `collection`, `id`, `slug`, "
    "`label`, `snippet` and `score`.",
    responses={400: {}},
)
def search_all(
    request: Request, session: ReadSession, query: Annotated[SearchQuery, Query()]
) -> Response:
    wanted = [c.strip() for c in (query.collections or "").split(",") if c.strip()]
    if unknown := [c for c in wanted if c not in BY_PATH]:
        raise BadRequest(
            f"collections: unknown '{unknown[0]}'; use {', '.join(s.path for s in SPECS)}.",
            errors=[{"field": "query.collections", "message": f"unknown '{unknown[0]}'"}],
        )
    if query.cursor is not None:
        scope = search.scope_of_search(query.q, wanted)
        cursor.decode(query.cursor, search.page_keys(query.q, wanted), scope)
    header = ["collection", "id", "slug", "label", "snippet", "score"]
    return _paged(
        request,
        session,
        query,
        "search",
        header,
        lambda s, limit, after: search.search(s, query.q, wanted, limit, after),
    )


@router.get(
    "/landscape",
    summary="The partnership landscape",
    description="One row per partnership: the automaker (`Group (Brand)` for a brand), its "
    "battery partner and battery, the energy density shown (the partnership's own figure, "
    "else its battery's own (tied to no partnership), else its partner's own (tied to no "
    "battery or partnership); cell level and Wh/kg first, then the newest "
    "`as_of`, `(targeted)` appended for targets), the commercialization status and stage, "
    "vehicle models and the titles of the sources cited. With the demo data its CSV is the "
    "seed article's table.",
    responses={400: {}},
)
def landscape_rows(
    request: Request,
    session: ReadSession,
    query: Annotated[LandscapeQuery, Query()],
) -> Response:
    params: Any = query
    filters = landscape.filters()
    given = params.model_dump(exclude_unset=True)
    where = [filters[n].clause(v) for n, v in given.items() if n in filters and v is not None]
    keys = parse_sort(Partnership, None, ())
    scope = cursor.scope_of("landscape", {n: v for n, v in given.items() if n in filters})
    if params.cursor is not None:
        cursor.decode(params.cursor, keys, scope)

    def fetch(s: Session, limit: int, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        rows = select(Partnership).where(*where)
        if after is not None:
            rows = rows.where(cursor.after(keys, cursor.decode(after, keys, scope)))
        found = list(s.scalars(rows.order_by(*cursor.order_by(keys)).limit(limit + 1)))
        next_cursor = cursor.encode(keys, found[limit - 1], scope) if len(found) > limit else None
        return landscape.rows(s, found[:limit]), next_cursor

    return _paged(request, session, params, "landscape", list(landscape.COLUMNS), fetch)


@router.get(
    "/stats/energy-density",
    summary="Energy-density statistics",
    description="Per group: `count`, `min`, `max`, `mean` and `median` of `value_min`, one "
    "`unit` at a time, over the energy densities that match the filters (the same as on "
    "`/energy-densities`). Records with no value for the key form one group with key null. "
    "`battery_partner` groups are keyed by slug and labelled by name; `year` is the year of "
    "`as_of`.",
    responses={400: {}},
)
def energy_density_stats(
    request: Request,
    session: ReadSession,
    query: Annotated[StatsQuery, Query()],
) -> Response:
    params: Any = query
    given = params.model_dump(exclude_unset=True)
    where = [
        _DENSITY_FILTERS[n].clause(v)
        for n, v in given.items()
        if n in _DENSITY_FILTERS and v is not None
    ]
    if params.q is not None:
        where.append(record_matches(BY_PATH["energy-densities"], params.q))
    groups = stats.energy_density_stats(session, params.group_by, params.unit, where)
    if wants_csv_for(request, params):
        header = ["key", "label", "count", "min", "max", "mean", "median"]
        return csv_response(f"energy-density-{params.group_by}", header, [groups])
    return JSONResponse(
        {"unit": params.unit.value, "group_by": params.group_by.value, "groups": groups}
    )
