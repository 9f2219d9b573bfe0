"""build_router(spec): the same six operations for every collection, from its concrete models."""

from types import SimpleNamespace
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, create_model
from sqlalchemy import Connection
from sqlmodel import Session, col
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from app import db
from app.access.guard import guard
from app.actor import Actor
from app.db import ReadSession, WriteSession
from app.problems import BadRequest, NotFound
from app.resources import cursor, service, writes
from app.resources.cursor import SortKey
from app.resources.formats import (
    columns,
    csv_response,
    every_page,
    include,
    record_json,
    wants_csv_for,
)
from app.resources.preconditions import Conditions, etag
from app.resources.query import (
    ListQuery,
    RecordQuery,
    StrictQuery,
    parsed_query,
    query_parameters,
    queryable,
    single_valued,
)
from app.resources.rows import dumps
from app.resources.spec import ResourceSpec
from app.sync import feed
from app.sync.changelog import Change
from app.sync.idempotency import IdempotencyDep

API_PREFIX = "/api/v1"


class HistoryQuery(StrictQuery):
    limit: int = Field(100, ge=1, le=1000, description="Versions per page, 1–1000.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


class CollectionRouter(APIRouter):
    """Every route of a collection starts with its prefix. FastAPI tries the included
    routers in turn and each tries its routes' patterns, so a request for the last
    collection ran some forty regexes; a path outside the prefix is now refused with one
    string test."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = get_route_path(scope)
        if path != self.prefix and not path.startswith(f"{self.prefix}/"):
            return Match.NONE, {}
        return super().matches(scope)


def next_link(request: Request, next_cursor: str | None) -> dict[str, str]:
    if next_cursor is None:
        return {}
    return {"Link": f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'}


IfMatch = Annotated[
    str | None,
    Header(description='Write only if the record is at this version: `"3"` (else 412).'),
]


IfNoneMatch = Annotated[
    str | None,
    Header(description='GET: `"3"` answers 304 when unchanged. PUT: `*` creates only (else 412).'),
]


def location(spec: ResourceSpec, record: Any) -> str:
    return f"{API_PREFIX}/{spec.path}/{record.id}"


def json_bytes(content: bytes, headers: dict[str, str]) -> Response:
    """A body serialised once (app.resources.rows.dumps), sent as it is."""
    return Response(content, media_type="application/json", headers=headers)


def record_response(
    spec: ResourceSpec, record: Any, status: int = 200, *, created: bool = False
) -> JSONResponse:
    headers = {"ETag": etag(record.version)}
    if created:
        headers["Location"] = location(spec, record)
    return JSONResponse(record_json(spec, record), status_code=status, headers=headers)


def page_model(spec: ResourceSpec) -> type[BaseModel]:
    name = spec.models.public.__name__
    return create_model(
        f"{name}Page",
        items=(list[spec.models.public], ...),  # type: ignore[name-defined]
        next_cursor=(str | None, Field(description="Pass as `cursor` for the next page.")),
    )


def _uuid(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise BadRequest(
            f"id: PUT needs a client-chosen UUID in the path, not '{raw}'.",
            errors=[{"field": "path.id", "message": "must be a UUID"}],
        ) from None


def build_router(spec: ResourceSpec) -> APIRouter:
    """Concrete routes for one collection, so /docs shows its real types."""
    Create = spec.models.create  # noqa: N806 - these are classes
    Update = spec.models.update  # noqa: N806
    Public = spec.models.public  # noqa: N806
    one, many = spec.singular, spec.path.replace("-", " ")
    key_doc = "The record's UUID or its slug." if spec.has_slug else "The record's UUID."
    RecordKey = Annotated[str, Path(description=key_doc)]  # noqa: N806
    checks = [Depends(guard), Depends(single_valued)]  # both async: no threadpool trips
    router = CollectionRouter(
        prefix=f"{API_PREFIX}/{spec.path}", tags=[spec.tag], dependencies=checks
    )
    asked = queryable(spec)

    @router.get(
        "",
        response_model=page_model(spec),
        summary=f"List {many}",
        description=f"A page of {many}, filtered and sorted (default: oldest first). Follow "
        "`next_cursor`, also in the `Link` header, until it is null. `format=csv` or "
        "`Accept: text/csv` streams every page as CSV instead.",
        responses={400: {}},
        openapi_extra=query_parameters(asked.list_model),
    )
    async def list_records(
        request: Request, params: Annotated[ListQuery, Depends(parsed_query(asked.list_model))]
    ) -> Response:
        keys = asked.sort_keys(params.sort)
        where = asked.where(params)
        includes = {n: asked.includes[n] for n in asked.include_names(params.include)}
        scope = asked.scope(params)
        if params.cursor is not None:
            cursor.decode(params.cursor, keys, scope)  # a bad cursor is a 400 before any output
        engine = request.app.state.engine
        if wants_csv_for(request, params):

            def fetch(own: Session, size: int, after: str | None) -> Any:
                page = service.list_page(
                    own, spec, keys=keys, where=where, limit=size, after=after, scope=scope,
                    records=True,
                )  # fmt: skip
                return include(own, page.rows, includes), page.next_cursor

            pages = every_page(engine, fetch, params, params.cursor)
            return csv_response(spec.path, columns(spec) + list(includes), pages)

        def read_page(connection: Connection) -> tuple[bytes, str | None]:
            page = service.list_page(
                connection, spec, keys=keys, where=where, limit=params.limit,
                after=params.cursor, count=params.count, scope=scope, records=True,
            )  # fmt: skip
            body: dict[str, Any] = {
                "items": include(connection, page.rows, includes),
                "next_cursor": page.next_cursor,
            }
            if page.total is not None:
                body["total"] = page.total
            return dumps(body), page.next_cursor

        bounded = not params.count and params.q is None
        content, next_cursor = await db.read(engine, read_page, bounded=bounded)
        return json_bytes(content, next_link(request, next_cursor))

    @router.post(
        "",
        status_code=201,
        response_model=Public,
        summary=f"Create a {one}",
        description=f"Creates a {one} with a server-made id. Answers 201 with `Location` and "
        "`ETag`. References take an id or a slug; read-only fields are ignored.",
        responses={400: {}, 409: {}, 422: {}},
    )
    def create_record(
        session: WriteSession,
        actor: Actor,
        idempotency: IdempotencyDep,
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        _query: Annotated[StrictQuery, Query()],
    ) -> Response:
        if idempotency and (replay := idempotency.replay(session)):
            return replay

        def remember(own: Session, written: writes.Written) -> None:
            if idempotency:
                idempotency.remember(own, record_response(spec, written.record, 201, created=True))

        written = writes.create(session, spec, body, actor, remember)
        return record_response(spec, written.record, 201, created=True)

    @router.get(
        "/{id}",
        response_model=Public,
        summary=f"Get a {one}",
        description=f"One {one} with its `ETag`. Send `If-None-Match` with that tag to get "
        "304 when it has not changed.",
        responses={304: {"description": "Not modified."}, 400: {}, 404: {}},
        openapi_extra=query_parameters(asked.record_model),
    )
    async def get_record(
        request: Request,
        id: RecordKey,
        query: Annotated[RecordQuery, Depends(parsed_query(asked.record_model))],
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        conditions = Conditions.parse(None, if_none_match)
        includes = {n: asked.includes[n] for n in asked.include_names(query.include)}

        def read_record(connection: Connection) -> dict[str, Any]:
            item = service.get_row(connection, spec, id)
            if conditions.not_modified(item["version"]):
                return item  # the client has it: no includes to fetch
            (item,) = include(connection, [item], includes)
            return item

        item = await db.read(request.app.state.engine, read_record)
        tag = {"ETag": etag(item["version"])}
        if conditions.not_modified(item["version"]):
            return Response(status_code=304, headers=tag)
        return json_bytes(dumps(item), tag)

    @router.put(
        "/{id}",
        response_model=Public,
        summary=f"Create or replace a {one} at a client-chosen id",
        description="Idempotent upsert for syncing: 201 when created, 200 when replaced (an "
        "identical body changes nothing, not even the version). `If-Match` guards a "
        "replace; `If-None-Match: *` only creates.",
        responses={201: {"description": "Created."}, 400: {}, 409: {}, 412: {}, 422: {}},
    )
    def put_record(
        session: WriteSession,
        actor: Actor,
        id: Annotated[str, Path(description="A client-chosen UUID.")],
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        _query: Annotated[StrictQuery, Query()],
        if_match: IfMatch = None,
        if_none_match: IfNoneMatch = None,
    ) -> JSONResponse:
        conditions = Conditions.parse(if_match, if_none_match)
        written = writes.put(session, spec, _uuid(id), body, conditions, actor)
        created = written.status == 201
        return record_response(spec, written.record, written.status, created=created)

    @router.patch(
        "/{id}",
        response_model=Public,
        summary=f"Change some fields of a {one}",
        description="JSON merge patch (RFC 7396), as `application/merge-patch+json` or "
        "`application/json`: given fields replace, `null` clears, absent fields stay.",
        responses={400: {}, 404: {}, 409: {}, 412: {}, 422: {}},
    )
    def patch_record(
        session: WriteSession,
        actor: Actor,
        id: RecordKey,
        changes: Annotated[Update, Body(media_type="application/merge-patch+json")],  # type: ignore[valid-type]
        _query: Annotated[StrictQuery, Query()],
        if_match: IfMatch = None,
    ) -> JSONResponse:
        conditions = Conditions.parse(if_match, None)
        given: BaseModel = changes  # only the fields sent: absent ones stay
        patch = given.model_dump(exclude_unset=True)
        written = writes.patch(session, spec, id, patch, conditions, actor)
        return record_response(spec, written.record)

    @router.delete(
        "/{id}",
        status_code=204,
        summary=f"Delete a {one}",
        description="204 when deleted; 409 naming the collections that still reference it.",
        responses={400: {}, 404: {}, 409: {}, 412: {}},
    )
    def delete_record(
        session: WriteSession,
        actor: Actor,
        id: RecordKey,
        _query: Annotated[StrictQuery, Query()],
        if_match: IfMatch = None,
    ) -> Response:
        writes.delete(session, spec, id, Conditions.parse(if_match, None), actor)
        return Response(status_code=204)

    @router.get(
        "/{id}/history",
        summary=f"History of a {one}",
        description="Every version of the record from the change log, oldest first: `version`, "
        "`op`, `changed_at`, `actor` and the record as it then was (null after a delete). "
        "Stays readable after a delete (address the record by its id then).",
        responses={400: {}, 404: {}},
    )
    def record_history(
        session: ReadSession, id: RecordKey, query: Annotated[HistoryQuery, Query()]
    ) -> Response:
        record = service.find(session, spec, id)
        record_id = record.id if record is not None else service.parse_key(id)
        keys = [SortKey(col(Change.seq))]
        scope = cursor.scope_of("history", spec.path, str(record_id))
        after = cursor.decode(query.cursor, keys, scope)[0] if query.cursor else 0
        items, more = (
            feed.history(session, spec.path, record_id, after, query.limit)
            if isinstance(record_id, UUID)
            else ([], None)
        )
        if not items and not after:
            raise NotFound(f"No history for a {one} with id '{id[: service.MAX_KEY]}'.")
        next_cursor = cursor.encode(keys, SimpleNamespace(seq=more), scope) if more else None
        return json_bytes(dumps({"items": items, "next_cursor": next_cursor}), {})

    return router
