"""`sort=name,-created_at`: checked against the collection's allow-list; id breaks ties."""

from typing import Any

from app.problems import BadRequest
from app.resources.cursor import SortKey


def parse_sort(table: Any, raw: str | None, allowed: tuple[str, ...]) -> list[SortKey]:
    """Sort keys ending with `id`, which runs in the direction of the last named field."""
    if not raw:
        return [SortKey(table.created_at), SortKey(table.id)]
    keys: list[SortKey] = []
    for part in raw.split(","):
        name = part.strip().removeprefix("-")
        if name not in allowed or name in {k.name for k in keys}:
            problem = (
                "repeated" if name in allowed else f"not sortable; use one of {', '.join(allowed)}"
            )
            raise BadRequest.on(
                "query.sort", f"'{name}' is {problem}", f"sort: '{name}' is {problem}."
            )
        keys.append(SortKey(getattr(table, name), descending=part.strip().startswith("-")))
    return [*keys, SortKey(table.id, descending=keys[-1].descending)]
