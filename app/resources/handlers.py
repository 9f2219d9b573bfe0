"""What each collection operation does, as named handlers: each takes the collection's spec
and the parts of the request it needs; app.resources.routes gives them concrete routes.

HTTP ends here: handlers parse headers, pick status codes and render answers; the rules
and the transaction are app.resources.writes' and reads'.
"""

import re
from typing import Any
from urllib.parse import unquote_plus
from uuid import UUID

from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from sqlmodel import Session

from app import db
from app.problems import BadRequest, NotFound
from app.resources import cursor, feed, reads, stored, writes
from app.resources.formats import columns, csv_response, every_page, include, wants_csv_for
from app.resources.idempotency import Idempotency
from app.resources.pages import Page
from app.resources.preconditions import Conditions, etag
from app.resources.query import ListQuery, RecordQuery, StrictQuery, parse_query, queryable
from app.resources.rows import dumps
from app.resources.spec import ResourceSpec
from app.resources.versions import at

API_PREFIX = "/api/v1"


class HistoryQuery(StrictQuery):
    limit: int = Field(100, ge=1, le=1000, description="Versions per page, 1–1000.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


# Each page's URL up to its query, by what Starlette makes it of: building the URL and
# encoding its query again cost more than 5% of a deep SQLite page (bench/RESULTS.md).
_BASES: dict[tuple[Any, ...], str] = {}
MAX_BASES = 1000  # the Host header is the client's: a cache, not a record of every one
# A query as clients send it, percent-encoded: safe to repeat in a Link header as it is.
_URL_SAFE = re.compile(r"[\w\-.~%!$'()*+,;=:@/?&]*", re.ASCII)


def next_link(request: Request, next_cursor: str | None) -> dict[str, str]:
    """The next page's URL: this one's, its parameters as sent but with the new cursor."""
    if next_cursor is None:
        return {}
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    server = tuple(scope.get("server") or ())  # a list under some servers
    key = (scope["scheme"], host, server, scope.get("root_path"), scope["path"])
    if (base := _BASES.get(key)) is None:
        if len(_BASES) >= MAX_BASES:
            _BASES.clear()
        base = _BASES[key] = str(request.url.replace(query=""))
    query = scope["query_string"].decode("latin-1")
    if not _URL_SAFE.fullmatch(query):  # encoded again, as Starlette does
        return {"Link": f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'}
    kept = [p for p in query.split("&") if p and unquote_plus(p.partition("=")[0]) != "cursor"]
    return {"Link": f'<{base}?{"&".join([*kept, f"cursor={next_cursor}"])}>; rel="next"'}


def json_bytes(content: bytes, headers: dict[str, str]) -> Response:
    """A body serialised once (app.resources.rows.dumps), sent as it is."""
    return Response(content, media_type="application/json", headers=headers)


def record_response(
    spec: ResourceSpec, written: writes.Written, *, created: bool = False
) -> Response:
    headers = {"ETag": etag(written.record.version)}
    if created:
        headers["Location"] = f"{API_PREFIX}/{spec.path}/{written.record.id}"
    body = dumps(written.json)
    return Response(body, written.status, headers=headers, media_type="application/json")


def client_uuid(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise BadRequest.on(
            "path.id",
            "must be a UUID",
            f"id: PUT needs a client-chosen UUID in the path, not '{raw}'.",
        ) from None


async def list_records(spec: ResourceSpec, request: Request) -> Response:
    """A page of records as JSON, or every page from the cursor on as CSV."""
    asked = queryable(spec)
    params: ListQuery = parse_query(asked.list_model, request)
    keys = asked.sort_keys(params.sort)
    where = asked.where(params)
    includes = {n: asked.includes[n] for n in asked.include_names(params.include)}
    scope = asked.scope(params)
    # A bad cursor is a 400 before any output; its values are the page's start.
    start = None if params.cursor is None else cursor.decode(params.cursor, keys, scope)
    engine = at(request.app.state.engine, params.known_at)
    if wants_csv_for(request, params):

        def fetch(own: Session, size: int, after: str | None) -> Any:
            values = None if after is None else cursor.decode(after, keys, scope)
            page = reads.list_page(
                own, spec, keys=keys, where=where, limit=size, after=values, scope=scope
            )
            return include(own, page.rows, includes), page.next_cursor

        pages = every_page(engine, fetch, params, params.cursor)
        return csv_response(spec.path, columns(spec) + list(includes), pages)

    def read_page(connection: Connection) -> tuple[bytes, str | None]:
        page = reads.list_page(
            connection, spec, keys=keys, where=where, limit=params.limit,
            after=start, count=params.count, scope=scope,
        )  # fmt: skip
        body: dict[str, Any] = {
            "items": include(connection, page.rows, includes),
            "next_cursor": page.next_cursor,
        }
        if page.total is not None:
            body["total"] = page.total
        return dumps(body), page.next_cursor

    bounded = not params.count and params.q is None
    loop_reads = request.app.state.loop_reads
    if bounded and params.known_at is None and loop_reads is not None:
        # Without includes, each record is its stored JSON (app.resources.stored).
        read_on_loop = stored.list_page_on_loop if not includes else reads.list_page_on_loop
        page = await read_on_loop(
            loop_reads, spec, keys=keys, where=where, limit=params.limit,
            after=start, scope=scope,
        )  # fmt: skip
        if page is not None:
            items = await reads.include_on_loop(loop_reads, page.rows, includes)
            body = dumps({"items": items, "next_cursor": page.next_cursor})
            return json_bytes(body, next_link(request, page.next_cursor))
    content, next_cursor = await db.read(engine, read_page, bounded=bounded)
    return json_bytes(content, next_link(request, next_cursor))


async def get_record(spec: ResourceSpec, request: Request) -> Response:
    asked = queryable(spec)
    key: str = request.path_params["id"]
    query: RecordQuery = parse_query(asked.record_model, request)
    conditions = Conditions.parse(None, request.headers.get("if-none-match"))
    includes = {n: asked.includes[n] for n in asked.include_names(query.include)}

    def read_record(connection: Connection) -> dict[str, Any]:
        (item,) = include(connection, [reads.get_row(connection, spec, key)], includes)
        return item

    loop_reads = request.app.state.loop_reads
    if loop_reads is not None and not includes and query.known_at is None:
        item = await reads.get_row_on_loop(loop_reads, spec, key)
    else:
        item = await db.read(at(request.app.state.engine, query.known_at), read_record)
    # The tag covers what is embedded too: a changed partner is a changed answer.
    tag = etag(item["version"], [(name, item[name]) for name in includes])
    if conditions.not_modified(tag):
        return Response(status_code=304, headers={"ETag": tag})
    return json_bytes(dumps(item), {"ETag": tag})


def create_record(
    spec: ResourceSpec,
    session: Session,
    actor: str,
    idempotency: Idempotency | None,
    body: BaseModel,
) -> Response:
    if idempotency and (replay := idempotency.replay(session)):
        return replay

    def remember(own: Session, written: writes.Written) -> None:
        if idempotency:
            idempotency.remember(own, record_response(spec, written, created=True))

    written = writes.create(session, spec, body, actor, remember)
    return record_response(spec, written, created=True)


def put_record(
    spec: ResourceSpec,
    session: Session,
    actor: str,
    key: str,
    body: BaseModel,
    if_match: str | None,
    if_none_match: str | None,
) -> Response:
    conditions = Conditions.parse(if_match, if_none_match)
    record_id = client_uuid(key)
    written = writes.committed(session, writes.apply_put, spec, record_id, body, conditions, actor)
    return record_response(spec, written, created=written.status == 201)


def patch_record(
    spec: ResourceSpec,
    session: Session,
    actor: str,
    key: str,
    changes: BaseModel,
    if_match: str | None,
) -> Response:
    conditions = Conditions.parse(if_match, None)
    patch = changes.model_dump(exclude_unset=True)  # only the fields sent: absent ones stay
    written = writes.committed(session, writes.apply_patch, spec, key, patch, conditions, actor)
    return record_response(spec, written)


def delete_record(
    spec: ResourceSpec, session: Session, actor: str, key: str, if_match: str | None
) -> Response:
    conditions = Conditions.parse(if_match, None)
    writes.committed(session, writes.apply_delete, spec, key, conditions, actor)
    return Response(status_code=204)


async def record_history(spec: ResourceSpec, request: Request) -> Response:
    """Every version from the change log; still there after a delete (by the record's id)."""
    key: str = request.path_params["id"]
    query = parse_query(HistoryQuery, request)

    def read_history(connection: Connection) -> Page | None:
        record_id = reads.record_id(connection, spec, key)
        if record_id is None:
            return None
        scope = cursor.scope_of("history", spec.path, str(record_id))
        if query.cursor is not None:
            cursor.decode(query.cursor, feed.HISTORY_KEYS, scope)
        return feed.history(
            connection, spec.path, record_id, limit=query.limit, after=query.cursor, scope=scope
        )

    page = await db.read(request.app.state.engine, read_history)
    if page is None or (not page.rows and query.cursor is None):
        raise NotFound(f"No history for a {spec.singular} with id '{key[: reads.MAX_KEY]}'.")
    return json_bytes(dumps({"items": page.rows, "next_cursor": page.next_cursor}), {})
