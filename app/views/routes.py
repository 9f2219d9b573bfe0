"""The analyst views' routes: search, landscape and energy-density statistics, JSON or CSV."""

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlalchemy import Connection
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.db import read, read_session
from app.market.enums import Unit
from app.market.landscape import COLUMNS
from app.market.products import ENERGY_DENSITIES
from app.resources import cursor
from app.resources.catalog import catalog
from app.resources.formats import PageFetch, csv_response, every_page, wants_csv_for
from app.resources.handlers import API_PREFIX, json_bytes, next_link
from app.resources.instants import Instant
from app.resources.query import (
    KNOWN_AT_DOC,
    StrictQuery,
    asked,
    parsed_query,
    query_parameters,
    queryable,
    where,
    with_filters,
)
from app.resources.rows import dumps
from app.resources.text_index import record_matches
from app.resources.versions import at
from app.views import landscape, search, stats
from app.views.answers import EnergyDensityStats, LandscapePage, SearchPage

router = APIRouter(prefix=API_PREFIX, tags=["views"])
F = TypeVar("F", bound=Callable[..., Any])
Format = Literal["json", "csv"]
FORMAT_DOC = "`csv` streams every page as CSV (so does `Accept: text/csv`)."


class PageQuery(StrictQuery):
    limit: int = Field(50, ge=1, le=500, description="Page size, 1–500.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")
    format: Format = Field("json", description=FORMAT_DOC)
    known_at: Instant | None = Field(None, description=KNOWN_AT_DOC)


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
    known_at: Instant | None = Field(None, description=KNOWN_AT_DOC)


LANDSCAPE_FILTERS = landscape.filters()
LandscapeQuery = with_filters("LandscapeQuery", PageQuery, LANDSCAPE_FILTERS)
DENSITY_FILTERS = {
    name: f for name, f in queryable(ENERGY_DENSITIES).filters.items() if name != "unit"
}
StatsQuery = with_filters("EnergyDensityStatsQuery", StatsBase, DENSITY_FILTERS)
# Each view's query, checked as the collections' are (app.resources.query.parsed_query).
SearchParams = Annotated[SearchQuery, Depends(parsed_query(SearchQuery))]
LandscapeParams = Annotated[Any, Depends(parsed_query(LandscapeQuery))]
StatsParams = Annotated[Any, Depends(parsed_query(StatsQuery))]


def view(path: str, summary: str, query: type[StrictQuery], **extra: Any) -> Callable[[F], F]:
    """A view's route: its query model documented (and checked by its `parsed_query`), a 400
    for a bad parameter (and `extra` answers); the description is the function's docstring.
    (app.views.time_routes adds its routes to the same router.)"""
    responses = {400: {}, **extra.pop("responses", {})}
    return router.get(
        path,
        summary=summary,
        responses=responses,
        openapi_extra=query_parameters(query),
        **extra,
    )


def _paged(
    request: Request, query: Any, name: str, header: list[str], fetch: PageFetch
) -> Response:
    """One JSON page, or every page as CSV; as of `query.known_at` when it is given."""
    engine = at(request.app.state.engine, query.known_at)
    if wants_csv_for(request, query):
        return csv_response(name, header, every_page(engine, fetch, query, query.cursor))
    with read_session(engine) as session:
        return _page_response(request, *fetch(session, query.limit, query.cursor))


def _page_response(request: Request, items: list[Any], next_cursor: str | None) -> Response:
    body = dumps({"items": items, "next_cursor": next_cursor})
    return json_bytes(body, next_link(request, next_cursor))


@view("/search", "Search every collection", SearchQuery, response_model=SearchPage)
def list_search_results(request: Request, query: SearchParams) -> Response:
    """Records whose names, local names, titles, descriptions or notes contain `q`, from every
    collection: exact name matches first, then names that start with `q`, then other name
    matches, then text matches; within each, the most recently written first (the page
    stops at `limit`: nothing ranks every match). Each item has `collection`, `id`, `slug`,
    `label`, `snippet` and `score`."""
    wanted = catalog.parse_paths(query.collections, "collections")
    if query.cursor is not None:
        scope = search.scope_of_search(query.q, wanted, query.known_at)
        cursor.decode(query.cursor, search.page_keys(), scope)
    header = ["collection", "id", "slug", "label", "snippet", "score"]

    def fetch(s: Session, limit: int, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return search.search(s, query.q, wanted, limit, after, query.known_at)

    return _paged(request, query, "search", header, fetch)


@view("/landscape", "The partnership landscape", LandscapeQuery, response_model=LandscapePage)
async def get_landscape(request: Request, params: LandscapeParams) -> Response:
    """One row per partnership: the automaker (`Group (Brand)` for a brand), its battery partner
    and battery, the energy density shown (the partnership's own figure, else its battery's own
    (tied to no partnership), else its partner's own (tied to no battery or partnership); cell
    level and Wh/kg first, then the newest `as_of`, `(targeted)` appended for targets), the
    commercialization status and stage, vehicle models and the titles of the sources cited.
    With the demo data its CSV is the seed article's table."""
    clauses = where(LANDSCAPE_FILTERS, params)
    scope = cursor.scope_of("landscape", asked(params))
    # A bad cursor is a 400 before any output; its values start the page read on the loop.
    start = None if params.cursor is None else cursor.decode(params.cursor, landscape.KEYS, scope)

    def fetch(s: Session, limit: int, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return landscape.page(s, clauses, limit=limit, after=after, scope=scope)

    if params.known_at is not None or wants_csv_for(request, params):
        paged = (request, params, "landscape", list(COLUMNS), fetch)
        return await run_in_threadpool(_paged, *paged)

    # A page of the present is one indexed read of the rows the writes keep: read as the
    # collections' pages are, on the event loop (app.loop_reads), else through the engine
    # (app.db.read; on SQLite without a threadpool trip).
    loop_reads = request.app.state.loop_reads
    if loop_reads is not None:
        kept = await landscape.kept_page_on_loop(
            loop_reads, clauses, limit=params.limit, after=start, scope=scope
        )
        if kept is not None:
            return _page_response(request, *kept)

    def present(connection: Connection) -> tuple[list[Any], str | None]:
        return landscape.kept_page(
            connection, clauses, limit=params.limit, after=params.cursor, scope=scope
        )

    return _page_response(request, *await read(request.app.state.engine, present))


def _one_status(params: Any) -> str | None:
    """The status the statistics are asked for, when that filter alone is given and names
    one status: the writes keep those statistics (app.market.tallies)."""
    given = {name for name in DENSITY_FILTERS if getattr(params, name) is not None}
    if given != {"status"} or params.q is not None or "," in params.status:
        return None
    return str(params.status).strip()


@view(
    "/stats/energy-density",
    "Energy-density statistics",
    StatsQuery,
    response_model=EnergyDensityStats,
)
def get_energy_density_stats(request: Request, params: StatsParams) -> Response:
    """Per group: `count`, `min`, `max`, `mean` and `median` of `value_min`, one `unit` at a
    time, over the energy densities that match the filters (the same as on
    `/energy-densities`). Records with no value for the key form one group with key null.
    `battery_partner` groups are keyed by slug and labelled by name; `year` is the year of
    `as_of`."""
    clauses = where(DENSITY_FILTERS, params)  # a 400 for any value that is not valid
    if params.q is not None:
        clauses.append(record_matches(ENERGY_DENSITIES, params.q))
    with read_session(at(request.app.state.engine, params.known_at)) as session:
        groups = stats.energy_density_stats(
            session, params.group_by, params.unit, clauses, one_status=_one_status(params)
        )
    if wants_csv_for(request, params):
        header = ["key", "label", "count", "min", "max", "mean", "median"]
        return csv_response(f"energy-density-{params.group_by}", header, [groups])
    return JSONResponse(
        {"unit": params.unit.value, "group_by": params.group_by.value, "groups": groups}
    )
