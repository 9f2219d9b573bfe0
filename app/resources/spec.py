"""ResourceSpec: everything the machine needs to know about one collection, declared by it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, Table
from sqlmodel import SQLModel

from app.resources.records import Family

# Clauses a filter keeps, by value: the same few values come again and again.
MAX_KEPT_CLAUSES = 1000


@dataclass(frozen=True)
class Filter:
    """One query parameter: its type and docs for the OpenAPI, and the SQL it adds."""

    param: str
    annotation: Any
    description: str
    clause: Callable[[Any], ColumnElement[bool]]
    _kept: dict[Any, ColumnElement[bool]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def sql(self, value: Any) -> ColumnElement[bool]:
        """`clause(value)`, made once per value: a clause is immutable, and one kept keeps
        its SQLAlchemy cache key too (app.resources.plans keys a page by it). Building
        them anew was 15% of a SQLite list page (bench/load_profile.py). A clause is a
        function of its value alone (no lookup, no clock), or it could not be kept."""
        key = (type(value), value)
        if (kept := self._kept.get(key)) is None:
            if len(self._kept) >= MAX_KEPT_CLAUSES:
                self._kept.clear()
            kept = self._kept[key] = self.clause(value)
        return kept

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
