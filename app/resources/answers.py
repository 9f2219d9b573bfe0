"""What a collection's answers look like, as models made from its public model: a page, a
version in its history, a change in the feed. Routes build their bodies themselves (rows
straight to JSON); these describe them to /docs and to generated clients.

Each is made once per collection (cached): FastAPI names a schema after its class, and two
classes of one name would be told apart by their module paths in every client."""

import datetime as dt
from functools import cache
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.resources.changelog import Op
from app.resources.spec import ResourceSpec

NEXT_CURSOR: tuple[Any, Any] = (
    str | None,
    Field(description="Pass as `cursor` for the next page; null on the last page."),
)


class AnyRecord(BaseModel):
    """Any collection's record, where one answer mixes collections (a batch's results): the
    fields every record has, and the rest of its collection's fields beside them."""

    model_config = ConfigDict(extra="allow")

    id: UUID
    version: int = Field(description="Starts at 1, +1 on every change; the ETag.")
    created_at: dt.datetime
    updated_at: dt.datetime


def _name(spec: ResourceSpec, suffix: str) -> str:
    return f"{spec.models.public.__name__}{suffix}"


@cache
def page_model(spec: ResourceSpec) -> type[BaseModel]:
    public: Any = spec.models.public
    return create_model(_name(spec, "Page"), items=(list[public], ...), next_cursor=NEXT_CURSOR)


def _change_fields(spec: ResourceSpec) -> dict[str, Any]:
    public: Any = spec.models.public
    return {
        "seq": (int, Field(description="The change's place in the feed; strictly increasing.")),
        "op": (Op, ...),
        "version": (int, Field(description="The record's version after it; a delete's: +1.")),
        "changed_at": (dt.datetime, Field(description="When it committed; UTC.")),
        "actor": (str, Field(description="The API key's name, or `cli` or `system`.")),
        "record": (public | None, Field(description="As it was after the change; null: a delete.")),
    }


@cache
def history_page_model(spec: ResourceSpec) -> type[BaseModel]:
    version: Any = create_model(_name(spec, "Version"), **_change_fields(spec))
    return create_model(_name(spec, "History"), items=(list[version], ...), next_cursor=NEXT_CURSOR)


@cache
def change_model(spec: ResourceSpec) -> type[BaseModel]:
    """A change to one of this collection's records; `collection` tells them apart."""
    fields = _change_fields(spec)
    collection: Any = Literal[spec.path]  # its own name, one value: what tells changes apart
    return create_model(
        _name(spec, "Change"),
        seq=fields.pop("seq"),
        collection=(collection, ...),
        id=(UUID, ...),
        **fields,
    )
