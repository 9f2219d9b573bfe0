"""The record base every collection's table shares, and the model family (Create, Patch,
public) made from a collection's fields."""

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, create_model, model_validator
from sqlalchemy import Index
from sqlmodel import Field, SQLModel
from sqlmodel.main import FieldInfoMetadata

from app.columns import UTCDateTime, enum_check, utcnow

# The record's own bookkeeping; a family adds its computed fields (`display`).
READ_ONLY_FIELDS = frozenset({"version", "created_at", "updated_at"})


class Record(SQLModel):
    """Columns every table has: identity, optimistic version, timestamps."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1, ge=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def table_args(table: str, fields: type[SQLModel], *extra: Any) -> tuple[Any, ...]:
    """What every table derives from its fields: keyset indexes on the timestamps (the
    default order is created_at, id) and on every number and date (sorting by one is how
    analysts read a list: `sort=-value_min`), so a page, however deep, is an index seek
    (app.resources.cursor); and a CHECK for each enum field; then its own `extra`."""
    checks = [enum_check(name, enum) for name, enum in enum_fields(fields)]
    keysets = [
        Index(f"ix_{table}_{name}_id", name, "id")
        for name in ("created_at", "updated_at", *ordered_fields(fields))
    ]
    return (*keysets, *checks, *extra)


def ordered_fields(fields: type[BaseModel]) -> list[str]:
    """Fields whose order means something to a reader: numbers and dates."""
    kinds = (int, float, dt.date)  # dt.datetime is a dt.date

    def ordered(annotation: Any) -> bool:  # through `| None` and Annotated[...]
        if isinstance(annotation, type):
            return issubclass(annotation, kinds) and annotation is not bool
        return any(ordered(arg) for arg in get_args(annotation) if arg is not type(None))

    return [name for name, info in fields.model_fields.items() if ordered(info.annotation)]


def enum_fields(fields: type[BaseModel]) -> list[tuple[str, type[StrEnum]]]:
    found = []
    for name, info in fields.model_fields.items():
        for candidate in (info.annotation, *get_args(info.annotation)):
            if isinstance(candidate, type) and issubclass(candidate, StrEnum):
                found.append((name, candidate))
    return found


class RecordOut(SQLModel):
    id: uuid.UUID = Field(description="Server-made on POST, client-chosen on PUT.")
    version: int = Field(description="Starts at 1, +1 on every change; the ETag.")
    created_at: dt.datetime = Field(description="UTC, ISO 8601 with Z.")
    updated_at: dt.datetime = Field(description="UTC, ISO 8601 with Z.")


class WriteBody(SQLModel):
    """What every write body adds: unknown fields refused, read-only ones ignored."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    read_only: ClassVar[frozenset[str]] = READ_ONLY_FIELDS

    id: uuid.UUID | None = Field(
        default=None,
        description="Optional. On PUT it must equal the id in the path; ignored on POST.",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        # A record read from the API can be written back as it is (API.md §9).
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in cls.read_only}
        return data


@dataclass(frozen=True)
class Family:
    """The request and response models of one collection."""

    create: type[BaseModel]
    update: type[BaseModel]
    public: type[BaseModel]


def _partial(name: str, fields: type[BaseModel], example: dict[str, Any]) -> type[BaseModel]:
    """Every field optional and nullable, constraints kept: a merge-patch body."""
    definitions: dict[str, Any] = {}
    for field_name, info in fields.model_fields.items():
        annotation: Any = info.annotation
        for constraint in info.metadata:
            if not isinstance(constraint, FieldInfoMetadata):  # column options, not rules
                annotation = Annotated[annotation, constraint]
        definitions[field_name] = (
            annotation | None,
            Field(default=None, description=info.description),
        )
    model = create_model(name, __base__=WriteBody, **definitions)
    model.model_config["json_schema_extra"] = {"examples": [example]}
    return model


def family(
    name: str,
    fields: type[BaseModel],
    *,
    example: dict[str, Any],
    patch_example: dict[str, Any],
    public_base: type[BaseModel] = RecordOut,
) -> Family:
    examples = ConfigDict(json_schema_extra={"examples": [example]})
    create = create_model(f"{name}Create", __base__=(fields, WriteBody))
    create.model_config.update(examples)
    update = _partial(f"{name}Patch", fields, patch_example)
    for body in (create, update):  # computed fields are read-only too
        body.read_only = READ_ONLY_FIELDS | set(fields.model_computed_fields)  # type: ignore[attr-defined]
    public = create_model(f"{name}", __base__=(fields, public_base))
    return Family(create=create, update=update, public=public)
