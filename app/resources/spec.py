"""ResourceSpec: everything the machine needs to know about one collection, declared by it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, Table
from sqlmodel import SQLModel

from app.resources.records import Family


@dataclass(frozen=True)
class Filter:
    """One query parameter: its type and docs for the OpenAPI, and the SQL it adds."""

    param: str
    annotation: Any
    description: str
    clause: Callable[[Any], ColumnElement[bool]]

    def field(self) -> tuple[Any, Any]:
        """As a field of a query model (pydantic's create_model)."""
        return (self.annotation | None, Field(None, description=self.description))


@dataclass(frozen=True)
class TextIndex:
    """What a collection puts into the text index (app.resources.text_index): `q=` on its
    list and `/search` find a record by these fields, and name it by `label`."""

    fields: tuple[str, ...]  # searched, in this order; a list field is searched item by item
    label: str | None = None  # the field that names a record; None: `names` joined with " × "
    names: tuple[str, ...] = ()  # references whose target's label is searched (and labels)
    local: str | None = None  # a second name, ranked as the label is (a local-script name)


@dataclass(frozen=True, eq=False)  # one object per collection: hashed by identity
class ResourceSpec:
    table: type[SQLModel]
    models: Family
    singular: str  # for humans: "battery partner"
    description: str  # the OpenAPI tag's text
    text: TextIndex
    # Filters that reach through a reference (`partnerships?country=`), beside the ones
    # every field gives (app.resources.filters).
    joins: tuple[Filter, ...] = field(default=())

    @property
    def sa_table(self) -> Table:
        table: Table = self.table.__table__  # type: ignore[attr-defined]
        return table

    @property
    def table_name(self) -> str:
        return self.sa_table.name

    @cached_property
    def path(self) -> str:
        """The URL name, the table's in kebab case: `battery-partners`."""
        return self.table_name.replace("_", "-")

    @property
    def has_slug(self) -> bool:
        return "slug" in self.sa_table.c

    @cached_property
    def refs(self) -> dict[str, str]:
        """Reference fields and the table each points at, read off the foreign keys."""
        return {
            column.name: next(iter(column.foreign_keys)).column.table.name
            for column in self.sa_table.columns
            if column.foreign_keys
        }

    @property
    def tag(self) -> str:
        return self.path
