"""Records as JSON (with included references) and lists as CSV streamed page by page."""

import csv
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from app.db import read_session
from app.resources.rows import fetch_by_ids, json_ready
from app.resources.spec import ResourceSpec

CSV_MEDIA = "text/csv; charset=utf-8"
CSV_PAGE = 500
# Bump when a record's JSON changes while its schema does not (how a computed field or a
# number is written): the change log's copies written before are then spliced no more.
RECORD_FORMAT = 1


def record_json(spec: ResourceSpec, record: Any) -> dict[str, Any]:
    data: dict[str, Any] = spec.models.public.model_validate(record).model_dump(mode="json")
    return data


@cache
def record_shape(spec: ResourceSpec) -> int:
    """How `spec`'s records are written as JSON, as a number: their fields in order, each
    field's type, and RECORD_FORMAT. The change log keeps it beside each version's JSON;
    a list page splices a stored JSON only when it was written in today's shape
    (app.resources.stored), so a new field or type never shows an older record without it."""
    schema = spec.models.public.model_json_schema(mode="serialization")
    return zlib.crc32(orjson.dumps([RECORD_FORMAT, _structure(schema)])) & 0x7FFF_FFFF


def _structure(schema: Any, names: bool = False) -> Any:
    """A JSON schema without its prose: a reworded description changes no record. Under
    `properties` and `$defs` the keys are names (a field may be called `description`),
    kept whatever they say."""
    if isinstance(schema, dict):
        prose = () if names else ("description", "examples", "title")
        return {
            k: _structure(v, not names and k in ("properties", "$defs"))
            for k, v in schema.items()
            if k not in prose
        }
    if isinstance(schema, list):
        return [_structure(item) for item in schema]
    return schema


def columns(spec: ResourceSpec) -> list[str]:
    """The JSON field names of a record, in order: the CSV header."""
    public = spec.models.public
    return [*public.model_fields, *public.model_computed_fields]


def include(
    connection: Connection | Session,
    items: list[dict[str, Any]],
    includes: dict[str, tuple[str, ResourceSpec]],
) -> list[dict[str, Any]]:
    """Each include embedded beside its `_id` field (null for a null reference), in records
    made by app.resources.rows: one query per include."""
    for name, (field, target) in includes.items():
        by_id = fetch_by_ids(connection, target, (item[field] for item in items))
        for item in items:
            item[name] = by_id.get(item[field])
    return items


def wants_csv(format_param: str | None, accept: str | None) -> bool:
    return format_param == "csv" or (format_param is None and "text/csv" in (accept or ""))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    value = json_ready(value)  # records from app.resources.rows keep UUIDs and times
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps({k: json_ready(v) for k, v in value.items()}, ensure_ascii=False)
    return str(value)


def csv_stream(header: list[str], pages: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    """Header first, then one chunk per page: memory stays at one page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        chunk = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    writer.writerow(header)
    yield flush()
    for items in pages:
        for item in items:
            writer.writerow([_cell(item.get(name)) for name in header])
        yield flush()


PageFetch = Callable[[Session, int, str | None], tuple[list[dict[str, Any]], str | None]]


def wants_csv_for(request: Request, query: BaseModel) -> bool:
    """`format=csv`, or `Accept: text/csv` when no format is given."""
    explicit = getattr(query, "format", None) if "format" in query.model_fields_set else None
    return wants_csv(explicit, request.headers.get("accept"))


def csv_response(name: str, header: list[str], pages: Iterable[list[dict[str, Any]]]) -> Response:
    disposition = f'attachment; filename="{name}.csv"'
    return StreamingResponse(
        csv_stream(header, pages),
        media_type=CSV_MEDIA,
        headers={"Content-Disposition": disposition},
    )


def every_page(
    engine: Engine, fetch: PageFetch, query: BaseModel, start: str | None
) -> Iterator[list[dict[str, Any]]]:
    """Every page from `start` on, each read in its own short session: memory stays at one
    page, and no connection is held between pages. `limit` rows a page (CSV_PAGE unless given)."""
    size = getattr(query, "limit", CSV_PAGE) if "limit" in query.model_fields_set else CSV_PAGE
    after = start
    while True:
        with read_session(engine) as session:
            items, after = fetch(session, size, after)
        yield items
        if after is None:
            return
