"""ResourceSpec: everything the generic machine needs to know about one collection."""

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Table
from sqlmodel import SQLModel

from app.market.base import Family


@dataclass(frozen=True, eq=False)  # one object per collection: hashed by identity
class ResourceSpec:
    path: str  # the URL name: "battery-partners"
    table: type[SQLModel]
    models: Family
    singular: str  # for humans: "battery partner"
    description: str  # the OpenAPI tag's text
    label_field: str = "name"

    @property
    def sa_table(self) -> Table:
        table: Table = self.table.__table__  # type: ignore[attr-defined]
        return table

    @property
    def table_name(self) -> str:
        return self.sa_table.name

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
