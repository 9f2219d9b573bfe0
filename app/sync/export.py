"""Export every record as JSON lines, then where to follow the change feed from: one
consistent snapshot of the database (app.sync.imports reads such a file back)."""

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine

from app.db import snapshot
from app.resources import changelog, cursor, reads
from app.resources.catalog import catalog
from app.resources.rows import dumps
from app.resources.sorting import parse_sort

PAGE = 500


def export_lines(engine: Engine) -> Iterator[str]:
    """Every record, collection by collection (references first), then `next_after`.

    All of it is read in one snapshot (app.db.snapshot), page by page: the file holds
    exactly the records, at their versions, that the changes up to `next_after` leave,
    and every reference in it resolves within it. A writer committing meanwhile is not
    held up; its change is in the feed after `next_after`.
    """
    with snapshot(engine) as connection:
        head = changelog.head(connection)
        for spec in catalog:
            keys = parse_sort(spec.table, None, ())
            after: list[Any] | None = None
            while True:
                page = reads.list_page(connection, spec, keys=keys, limit=PAGE, after=after)
                for record in page.rows:
                    yield dumps({"collection": spec.path, "record": record}).decode() + "\n"
                if page.next_cursor is None:
                    break
                after = cursor.decode(page.next_cursor, keys)
    yield json.dumps({"next_after": head}) + "\n"
