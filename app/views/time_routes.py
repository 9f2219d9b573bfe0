"""The views over time (API.md §10): the landscape's diff between two instants, a battery's
claims against its measurements, the claim gap by group, and the Atom digest. They are
added to the views' router (app.views.routes), so importing this module registers them."""

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlalchemy import Connection

from app import db
from app.columns import utcnow
from app.db import read_connection
from app.market.enums import Level, Unit
from app.market.products import BATTERIES
from app.problems import BadRequest
from app.resources import reads
from app.resources.formats import csv_response, wants_csv_for
from app.resources.instants import Instant, StartInstant
from app.resources.query import (
    KNOWN_AT_DOC,
    StrictQuery,
    parsed_query,
    where,
    with_filters,
)
from app.resources.rows import dumps
from app.resources.versions import at
from app.views import claims, diff, digest
from app.views.answers import ClaimGap, Claims, LandscapeDiff
from app.views.routes import FORMAT_DOC, LANDSCAPE_FILTERS, Format, view

DIGEST_DAYS = 7


class DiffBase(StrictQuery):
    since: Instant = Field(
        alias="from", description="The earlier instant: a date (its end) or a UTC time."
    )
    until: Instant | None = Field(
        None, alias="to", description="The later instant (default: now), as `from`."
    )
    format: Format = Field("json", description=FORMAT_DOC)


class ClaimsQuery(StrictQuery):
    unit: Unit = Field(Unit.wh_per_kg, description="`Wh/kg` (default) or `Wh/L`.")
    level: Level = Field(Level.cell, description="`cell` (default), `module` or `pack`.")
    known_at: Instant | None = Field(None, description=KNOWN_AT_DOC)


class ClaimGapQuery(ClaimsQuery):
    group_by: claims.GapBy = Field(description="`technology` or `battery_partner`.")
    format: Format = Field("json", description=FORMAT_DOC)


class DigestBase(StrictQuery):
    since: StartInstant | None = Field(
        None,
        description="Changes after this instant: a date (its start, in UTC) or a UTC time. "
        f"Default: {DIGEST_DAYS} days ago.",
    )


DiffQuery = with_filters("LandscapeDiffQuery", DiffBase, LANDSCAPE_FILTERS)
DigestQuery = with_filters("DigestQuery", DigestBase, LANDSCAPE_FILTERS)
DiffParams = Annotated[Any, Depends(parsed_query(DiffQuery))]
ClaimsParams = Annotated[ClaimsQuery, Depends(parsed_query(ClaimsQuery))]
ClaimGapParams = Annotated[ClaimGapQuery, Depends(parsed_query(ClaimGapQuery))]
DigestParams = Annotated[Any, Depends(parsed_query(DigestQuery))]


@view("/landscape/diff", "What changed in the landscape", DiffQuery, response_model=LandscapeDiff)
def get_landscape_diff(request: Request, params: DiffParams) -> Response:
    """The landscape at `from` against the landscape at `to`, each filtered at its own
    instant, rows matched by `partnership_id`: those `added`, those `removed`, and for the
    rest the landscape columns whose values `changed` (`energy_density` `360 Wh/kg` → `380
    Wh/kg`), names as at `to`. Nothing changed: three empty lists. As CSV: a line for each
    added and removed row, then one for each changed field."""
    until = params.until or utcnow()
    if params.since > until:
        raise BadRequest.on("query.from", "after `to`", "from: the earlier instant comes first.")
    answer = diff.diff(
        request.app.state.engine, where(LANDSCAPE_FILTERS, params), params.since, until
    )
    if wants_csv_for(request, params):
        return csv_response("landscape-diff", diff.CSV_HEADER, [list(diff.csv_rows(answer))])
    return Response(dumps(answer), media_type="application/json")


@view(
    "/batteries/{id}/claims",
    "A battery's claims against its measurements",
    ClaimsQuery,
    response_model=Claims,
    responses={404: {}},
)
async def get_battery_claims(
    request: Request,
    id: Annotated[str, Path(description="The battery's UUID or its slug.")],
    params: ClaimsParams,
) -> Response:
    """The energy densities whose `battery_id` is this battery, in one `unit` and at one
    `level`: its `target` (the newest targeted figure), its `best_claimed` and its
    `best_measured` (measured or certified) figures, the `gap` from target to measurement
    (`{"value": 40, "percent": 10.0}` for a 400+ target and a 360 measurement; null when
    either is missing) and the `timeline` of them all, oldest `as_of` first."""

    def read(connection: Connection) -> dict[str, Any]:
        battery = reads.get_row(connection, BATTERIES, id)  # read paths hold ids as text
        battery_id = UUID(str(battery["id"]))
        return claims.claims(connection, battery_id, params.unit.value, params.level.value)

    answer = await db.read(at(request.app.state.engine, params.known_at), read)
    return Response(dumps(answer), media_type="application/json")


@view("/stats/claim-gap", "The claim gap by group", ClaimGapQuery, response_model=ClaimGap)
def get_claim_gap(request: Request, params: ClaimGapParams) -> Response:
    """Over the batteries with both a target and a measurement (in `unit`, at `level`), per
    technology or battery partner (keyed by slug, labelled by name): how many `batteries`,
    their `mean_gap` and `mean_percent`, and the `max_gap`. Groups with none are left out."""
    with read_connection(at(request.app.state.engine, params.known_at)) as connection:
        groups = claims.claim_gap(connection, params.group_by, params.unit, params.level)
    if wants_csv_for(request, params):
        header = ["key", "label", "batteries", "mean_gap", "mean_percent", "max_gap"]
        return csv_response(f"claim-gap-{params.group_by}", header, [groups])
    return JSONResponse({"unit": params.unit.value, "level": params.level.value,
                         "group_by": params.group_by.value, "groups": groups})  # fmt: skip


@view(
    "/digest.atom",
    "What changed, as an Atom feed",
    DigestQuery,
    response_class=Response,
    responses={200: {"content": {digest.MEDIA: {"schema": {"type": "string"}}}}},
)
def get_digest(request: Request, params: DigestParams) -> Response:
    """An Atom 1.0 feed of the changes to partnerships, energy densities and milestones since
    `since`, newest first (200 at most), each titled for people ("NIO × WeLion: energy
    density 360 Wh/kg (claimed)") and linked to the record and its source. The landscape's
    filters keep the partnerships they match, and what is tied to them."""
    since = params.since or utcnow() - dt.timedelta(days=DIGEST_DAYS)
    with read_connection(request.app.state.engine) as connection:
        found = digest.entries(connection, since, where(LANDSCAPE_FILTERS, params))
        names = digest.Names.of(connection, found)
    base = str(request.base_url).rstrip("/")
    body = digest.render(found, names, base=base, self_url=str(request.url), since=since)
    return Response(body, media_type=digest.MEDIA)
