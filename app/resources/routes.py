"""build_router(spec): the same six operations for every collection, from its concrete models."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from app.db import ReadSession, WriteSession
from app.problems import BadRequest
from app.resources import service
from app.resources.preconditions import Conditions, etag
from app.resources.spec import ResourceSpec

API_PREFIX = "/api/v1"
MAX_LIMIT = 500


class NoQuery(BaseModel):
    """Operations without query parameters still refuse unknown ones (API.md §1)."""

    model_config = ConfigDict(extra="forbid")


class ListQuery(NoQuery):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Page size, 1–500.")
    cursor: str | None = Field(
        None, description="Opaque: the `next_cursor` of the previous page. Stable under inserts."
    )


IfMatch = Annotated[
    str | None,
    Header(description='Write only if the record is at this version: `"3"` (else 412).'),
]
IfNoneMatch = Annotated[
    str | None,
    Header(description='GET: `"3"` answers 304 when unchanged. PUT: `*` creates only (else 412).'),
]


def record_json(spec: ResourceSpec, record: Any) -> dict[str, Any]:
    data: dict[str, Any] = spec.models.public.model_validate(record).model_dump(mode="json")
    return data


def location(spec: ResourceSpec, record: Any) -> str:
    return f"{API_PREFIX}/{spec.path}/{record.id}"


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
    router = APIRouter(prefix=f"{API_PREFIX}/{spec.path}", tags=[spec.tag])

    @router.get(
        "",
        response_model=page_model(spec),
        summary=f"List {many}",
        description=f"A page of {many}, oldest first (`created_at`, then `id`). Follow "
        "`next_cursor` (also in the `Link` header) until it is null.",
        responses={400: {}},
    )
    def list_records(
        request: Request, session: ReadSession, query: Annotated[ListQuery, Query()]
    ) -> JSONResponse:
        page = service.list_page(session, spec, limit=query.limit, after=query.cursor)
        headers = {}
        if page.next_cursor:
            url = request.url.include_query_params(cursor=page.next_cursor)
            headers["Link"] = f'<{url}>; rel="next"'
        body = {"items": [record_json(spec, r) for r in page.rows], "next_cursor": page.next_cursor}
        return JSONResponse(body, headers=headers)

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
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        _query: Annotated[NoQuery, Query()],
    ) -> JSONResponse:
        return record_response(spec, service.create(session, spec, body), 201, created=True)

    @router.get(
        "/{id}",
        response_model=Public,
        summary=f"Get a {one}",
        description=f"One {one} with its `ETag`. Send `If-None-Match` with that tag to get "
        "304 when it has not changed.",
        responses={304: {"description": "Not modified."}, 400: {}, 404: {}},
    )
    def get_record(
        session: ReadSession,
        id: RecordKey,
        _query: Annotated[NoQuery, Query()],
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        conditions = Conditions.parse(None, if_none_match)
        record = service.get(session, spec, id)
        if conditions.not_modified(record.version):
            return Response(status_code=304, headers={"ETag": etag(record.version)})
        return record_response(spec, record)

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
        id: Annotated[str, Path(description="A client-chosen UUID.")],
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        _query: Annotated[NoQuery, Query()],
        if_match: IfMatch = None,
        if_none_match: IfNoneMatch = None,
    ) -> JSONResponse:
        conditions = Conditions.parse(if_match, if_none_match)
        record, created = service.put(session, spec, _uuid(id), body, conditions)
        return record_response(spec, record, 201 if created else 200, created=created)

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
        id: RecordKey,
        changes: Annotated[Update, Body(media_type="application/merge-patch+json")],  # type: ignore[valid-type]
        _query: Annotated[NoQuery, Query()],
        if_match: IfMatch = None,
    ) -> JSONResponse:
        conditions = Conditions.parse(if_match, None)
        given: BaseModel = changes  # only the fields sent: absent ones stay
        patch = given.model_dump(exclude_unset=True)
        return record_response(spec, service.patch(session, spec, id, patch, conditions))

    @router.delete(
        "/{id}",
        status_code=204,
        summary=f"Delete a {one}",
        description="204 when deleted; 409 naming the collections that still reference it.",
        responses={400: {}, 404: {}, 409: {}, 412: {}},
    )
    def delete_record(
        session: WriteSession,
        id: RecordKey,
        _query: Annotated[NoQuery, Query()],
        if_match: IfMatch = None,
    ) -> Response:
        service.delete(session, spec, id, Conditions.parse(if_match, None))
        return Response(status_code=204)

    return router
