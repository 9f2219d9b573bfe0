"""What a collection can be asked: its filters, sort keys and includes, and the query models
that put them in the OpenAPI and validate them (a bad value is a 400 naming the parameter)."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from sqlalchemy import ColumnElement

from app.problems import BadRequest
from app.resources.catalog import catalog
from app.resources.cursor import SortKey, scope_of
from app.resources.fields import rule_error
from app.resources.filters import derived_filters, sortable_fields
from app.resources.instants import Instant
from app.resources.sorting import parse_sort
from app.resources.spec import Filter, ResourceSpec
from app.resources.text_index import record_matches

MAX_LIMIT = 500
RESERVED = ("limit", "cursor", "sort", "count", "include", "format", "q")


class StrictQuery(BaseModel):
    """Unknown query parameters are a 400 (API.md §1), on every operation."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # No stored value contains NUL, and Postgres refuses it in a query.
        for name, value in data.items() if isinstance(data, dict) else ():
            if "\x00" in str(value):
                raise rule_error(name, "must not contain NUL characters")
        return data


# An operation that takes no query parameters refuses any (a write, a single resource).
NoQuery = Annotated[StrictQuery, Query()]


KNOWN_AT_DOC = (
    "The answer as the database held it at that instant: a date (the end of that UTC day, "
    "or now when it is today) or a UTC time (`2026-03-01T08:00:00Z`). Records created "
    "later are absent, later edits undone, records deleted later present."
)


class RecordQuery(StrictQuery):
    include: str | None = Field(
        None, description="Embed referenced records beside their `_id` fields: `source,...`."
    )
    known_at: Instant | None = Field(None, description=KNOWN_AT_DOC)


class ListQuery(RecordQuery):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Page size, 1–500.")
    cursor: str | None = Field(
        None, description="Opaque: `next_cursor` of the previous page (same sort and filters)."
    )
    sort: str | None = Field(
        None,
        description="Comma-separated fields, `-` for descending (`-value_min,as_of`); `id` breaks "
        "ties. Default `created_at`. Missing values count as highest: last ascending, first "
        "descending.",
    )
    count: bool = Field(False, description="`true` adds `total`, the number of matching records.")
    format: Literal["json", "csv"] = Field(
        "json",
        description="`csv` streams every page as CSV (so does `Accept: text/csv`), `limit` "
        "rows a chunk (500 unless given).",
    )
    q: str | None = Field(
        None,
        description="Text search in names, local names, titles, descriptions and notes; any "
        "case; Chinese, Japanese and Korean match inside words (`蔚来`).",
    )


Q = TypeVar("Q", bound=StrictQuery)


def parse_query(model: type[Q], request: Request) -> Q:
    """The query string validated against `model`, once (FastAPI would inspect each of a
    list's forty fields on every request); its errors go through the same handler
    (`query.<name>` in a 400). `query_parameters` documents it."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as error:
        errors = [{**e, "loc": ("query", *e["loc"])} for e in error.errors()]
        raise RequestValidationError(errors) from None


def parsed_query(model: type[Q]) -> Callable[[Request], Awaitable[Q]]:
    """`parse_query` as a dependency (async: no threadpool trip)."""

    async def parse(request: Request) -> Q:
        return parse_query(model, request)

    return parse


# Schemas the query parameters refer to (enums): app.docs puts them in the components.
QUERY_SCHEMAS: dict[str, Any] = {}


@cache
def query_parameters(model: type[StrictQuery], *others: tuple[str, str, str]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses its own request (`parse_query(model)`): the
    model's fields as the query parameters FastAPI would have listed (pydantic's schema of
    each field; an enum by a reference to the components, as FastAPI writes it), then any
    `others`, each (where, name, description): a path parameter or a header, a string."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    QUERY_SCHEMAS.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    queried = [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        | ({"description": field["description"]} if "description" in field else {})
        for name, field in schema["properties"].items()
    ]
    given = [
        {"name": name, "in": where, "required": where == "path", "description": text}
        | {
            "schema": {"type": "string"}
            if where == "path"
            else {"anyOf": [{"type": "string"}, {"type": "null"}]}
        }
        for where, name, text in others
    ]
    return {"parameters": [*[p for p in given if p["in"] == "path"], *queried,
                           *[p for p in given if p["in"] != "path"]]}  # fmt: skip


def where(filters: Mapping[str, Filter], query: BaseModel) -> list[ColumnElement[bool]]:
    """The SQL of each filter the query gives a value."""
    given = query.model_fields_set
    values = [(f, getattr(query, name)) for name, f in filters.items() if name in given]
    return [f.sql(value) for f, value in values if value is not None]


def asked(query: BaseModel) -> dict[str, Any]:
    """What a query selects and in which order (filters, `q`, sort), not how it is paged or
    shown: a cursor is bound to this, so it is only good for the same list."""
    return query.model_dump(
        exclude_unset=True, exclude={"cursor", "limit", "format", "count", "include"}
    )


def with_filters(name: str, base: type[Q], filters: Mapping[str, Filter], **extra: Any) -> type[Q]:
    """`base` with a field for each filter (and the `extra` fields): what the OpenAPI lists
    and a request is checked against."""
    fields: dict[str, Any] = {param: f.field() for param, f in filters.items()}
    model: type[Q] = create_model(name, __base__=base, **extra, **fields)
    return model


@dataclass(frozen=True)
class Queryable:
    spec: ResourceSpec
    filters: dict[str, Filter]
    sortable: tuple[str, ...]
    includes: dict[str, tuple[str, ResourceSpec]]  # "battery_partner" -> (field, target)
    list_model: type[ListQuery]
    record_model: type[RecordQuery]

    def where(self, query: BaseModel) -> list[ColumnElement[bool]]:
        clauses = where(self.filters, query)
        if getattr(query, "q", None) is not None:
            clauses.append(record_matches(self.spec, query.q))  # type: ignore[attr-defined]
        return clauses

    def scope(self, query: BaseModel) -> str:
        """The list a cursor belongs to: this collection with these filters, `q` and sort."""
        return scope_of(self.spec.path, asked(query))

    def sort_keys(self, raw: str | None) -> list[SortKey]:
        return list(_sort_keys(self.spec, raw, self.sortable))

    def include_names(self, raw: str | None) -> list[str]:
        names = [n.strip() for n in (raw or "").split(",") if n.strip()]
        unknown = [n for n in names if n not in self.includes]
        if unknown:
            known = ", ".join(self.includes) or "none"
            raise BadRequest.on(
                "query.include",
                f"unknown include '{unknown[0]}'",
                f"include: unknown '{unknown[0]}'; this collection can include {known}.",
            )
        return list(dict.fromkeys(names))


@lru_cache(maxsize=512)  # the same keys for the same sort: each makes its ORDER BY once
def _sort_keys(
    spec: ResourceSpec, raw: str | None, sortable: tuple[str, ...]
) -> tuple[SortKey, ...]:
    return tuple(parse_sort(spec.table, raw, sortable))


@cache
def queryable(spec: ResourceSpec) -> Queryable:
    targets = {field: catalog.target(spec, field) for field in spec.refs}
    found = derived_filters(spec, targets) + list(spec.joins)
    filters = {f.param: f for f in found}
    includes = {f.removesuffix("_id"): (f, t) for f, t in targets.items()}
    include: Any = (
        str | None,
        Field(
            None,
            description="Embed referenced records beside their `_id` fields, comma-separated: "
            + (", ".join(f"`{n}`" for n in includes) or "nothing to include here")
            + ". A null reference embeds null.",
        ),
    )
    name = spec.models.public.__name__
    return Queryable(
        spec=spec,
        filters=filters,
        sortable=sortable_fields(spec, found),
        includes=includes,
        list_model=with_filters(f"{name}ListQuery", ListQuery, filters, include=include),
        record_model=create_model(f"{name}Query", __base__=RecordQuery, include=include),
    )
