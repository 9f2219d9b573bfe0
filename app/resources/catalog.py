"""The catalog of collections: filled by registration, as SQLAlchemy's metadata is by tables.

The machine reads it and never names a collection; app.market.registry registers the
collections, in an order where each references only those before it (or itself).
"""

from collections.abc import Iterator

from app.problems import BadRequest
from app.resources.spec import ResourceSpec
from app.resources.versions import versions_of


class Catalog:
    def __init__(self) -> None:
        self._by_path: dict[str, ResourceSpec] = {}
        self._by_table: dict[str, ResourceSpec] = {}

    def register(self, *specs: ResourceSpec) -> tuple[ResourceSpec, ...]:
        for spec in specs:
            if spec.path in self._by_path and self._by_path[spec.path] is not spec:
                raise ValueError(f"a collection named '{spec.path}' is registered already")
            unknown = set(spec.refs.values()) - {*self._by_table, spec.table_name}
            if unknown:
                raise ValueError(f"{spec.path} references {unknown}: register those first")
            self._by_path[spec.path] = spec
            self._by_table[spec.table_name] = spec
            versions_of(spec.sa_table)  # its history, read `known_at` an instant
        return specs

    def __iter__(self) -> Iterator[ResourceSpec]:
        """In registration order: references first."""
        return iter(tuple(self._by_path.values()))

    def __contains__(self, path: object) -> bool:
        return path in self._by_path

    def __len__(self) -> int:
        return len(self._by_path)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._by_path)

    def by_path(self, path: str) -> ResourceSpec:
        return self._by_path[path]

    def by_table(self, table_name: str) -> ResourceSpec:
        return self._by_table[table_name]

    def target(self, spec: ResourceSpec, field: str) -> ResourceSpec:
        """The collection a reference field points at."""
        return self._by_table[spec.refs[field]]

    def referencing(self, target: ResourceSpec) -> list[tuple[ResourceSpec, str]]:
        """Every (collection, field) that points at `target`: what blocks a delete."""
        return [
            (spec, field)
            for spec in self
            for field, table in spec.refs.items()
            if table == target.table_name
        ]

    def parse_paths(self, raw: str | None, param: str) -> list[str]:
        """`batteries,sources` from a query parameter; a 400 naming an unknown one."""
        names = [name.strip() for name in (raw or "").split(",") if name.strip()]
        if unknown := [name for name in names if name not in self]:
            raise BadRequest.on(
                f"query.{param}",
                f"unknown '{unknown[0]}'",
                f"{param}: unknown '{unknown[0]}'; use {', '.join(self.paths)}.",
            )
        return names


catalog = Catalog()
