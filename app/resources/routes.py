"""build_router(spec): the same operations for every collection, as concrete routes made from
its own models, so /docs and generated clients show its real types. Each route only
declares what it takes; app.resources.handlers does the work."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Request, Response
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from app.actor import Actor
from app.db import WriteSession
from app.resources import handlers
from app.resources.answers import history_page_model, page_model
from app.resources.handlers import API_PREFIX, HistoryQuery
from app.resources.idempotency import IdempotencyDep
from app.resources.query import (
    NoQuery,
    query_parameters,
    queryable,
)
from app.resources.spec import ResourceSpec

IfMatch = Annotated[
    str | None,
    Header(description='Write only if the record is at this version: `"3"` (else 412).'),
]
IF_NONE_MATCH = 'GET: `"3"` answers 304 when unchanged. PUT: `*` creates only (else 412).'
IfNoneMatch = Annotated[str | None, Header(description=IF_NONE_MATCH)]


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


def build_router(spec: ResourceSpec) -> APIRouter:
    Create = spec.models.create  # noqa: N806 - these are classes
    Update = spec.models.update  # noqa: N806
    Public = spec.models.public  # noqa: N806
    one, many = spec.singular, spec.path.replace("-", " ")
    a_one = f"an {one}" if one[0] in "aeiou" else f"a {one}"
    key_doc = "The record's UUID or its slug." if spec.has_slug else "The record's UUID."
    RecordKey = Annotated[str, Path(description=key_doc)]  # noqa: N806
    asked = queryable(spec)
    router = CollectionRouter(prefix=f"{API_PREFIX}/{spec.path}", tags=[spec.tag])

    # The reads take the request alone and parse it themselves (app.resources.handlers):
    # FastAPI would resolve each parameter anew on every request, at a fifth of a short
    # read's time. `query_parameters` documents what they read.
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
    async def list_records(request: Request) -> Response:
        return await handlers.list_records(spec, request)

    @router.post(
        "",
        status_code=201,
        response_model=Public,
        summary=f"Create {a_one}",
        description=f"Creates {a_one} with a server-made id. Answers 201 with `Location` and "
        "`ETag`. References take an id or a slug; read-only fields are ignored.",
        responses={400: {}, 409: {}, 422: {}},
    )
    def create_record(
        session: WriteSession,
        actor: Actor,
        idempotency: IdempotencyDep,
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        _query: NoQuery,
    ) -> Response:
        return handlers.create_record(spec, session, actor, idempotency, body)

    @router.get(
        "/{id}",
        response_model=Public,
        summary=f"Get {a_one}",
        description=f"One {one} with its `ETag`. Send `If-None-Match` with that tag to get "
        "304 when it has not changed.",
        responses={304: {"description": "Not modified."}, 400: {}, 404: {}},
        openapi_extra=query_parameters(
            asked.record_model, ("path", "id", key_doc), ("header", "if-none-match", IF_NONE_MATCH)
        ),
    )
    async def get_record(request: Request) -> Response:
        return await handlers.get_record(spec, request)

    @router.put(
        "/{id}",
        response_model=Public,
        summary=f"Create or replace {a_one} at a client-chosen id",
        description="Idempotent upsert for syncing: 201 when created, 200 when replaced (an "
        "identical body changes nothing, not even the version). `If-Match` guards a "
        "replace; `If-None-Match: *` only creates.",
        responses={
            201: {"description": "Created.", "model": Public},
            400: {},
            409: {},
            412: {},
            422: {},
        },
    )
    def put_record(
        session: WriteSession,
        actor: Actor,
        id: Annotated[str, Path(description="A client-chosen UUID.")],
        body: Annotated[Create, Body()],  # type: ignore[valid-type]
        _query: NoQuery,
        if_match: IfMatch = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        return handlers.put_record(spec, session, actor, id, body, if_match, if_none_match)

    @router.patch(
        "/{id}",
        response_model=Public,
        summary=f"Change some fields of {a_one}",
        description="JSON merge patch (RFC 7396), as `application/merge-patch+json` or "
        "`application/json`: given fields replace, `null` clears, absent fields stay.",
        responses={400: {}, 404: {}, 409: {}, 412: {}, 422: {}},
    )
    def patch_record(
        session: WriteSession,
        actor: Actor,
        id: RecordKey,
        changes: Annotated[Update, Body(media_type="application/merge-patch+json")],  # type: ignore[valid-type]
        _query: NoQuery,
        if_match: IfMatch = None,
    ) -> Response:
        return handlers.patch_record(spec, session, actor, id, changes, if_match)

    @router.delete(
        "/{id}",
        status_code=204,
        summary=f"Delete {a_one}",
        description="204 when deleted; 409 naming the collections that still reference it.",
        responses={400: {}, 404: {}, 409: {}, 412: {}},
    )
    def delete_record(
        session: WriteSession,
        actor: Actor,
        id: RecordKey,
        _query: NoQuery,
        if_match: IfMatch = None,
    ) -> Response:
        return handlers.delete_record(spec, session, actor, id, if_match)

    @router.get(
        "/{id}/history",
        response_model=history_page_model(spec),
        summary=f"History of {a_one}",
        description="Every version of the record from the change log, oldest first: `version`, "
        "`op`, `changed_at`, `actor` and the record as it then was (null after a delete). "
        "Stays readable after a delete (address the record by its id then).",
        responses={400: {}, 404: {}},
        openapi_extra=query_parameters(HistoryQuery, ("path", "id", key_doc)),
    )
    async def record_history(request: Request) -> Response:
        return await handlers.record_history(spec, request)

    return router
